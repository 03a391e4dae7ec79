import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { MetricsService } from './metrics.service';
import { ObservabilityController } from './observability.controller';
import { TracingLifecycle } from './tracing-lifecycle';

@Global()
@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [ObservabilityController],
  providers: [MetricsService, TracingLifecycle],
  exports: [MetricsService],
})
export class ObservabilityModule {}
