import { Controller, Get, Header, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { Response } from 'express';
import { Public } from '../auth/auth.guard';
import { RedisService } from '../state/redis.service';
import { MetricsService } from './metrics.service';

@ApiTags('operations')
@Public()
@Controller()
export class ObservabilityController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly typeorm: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly redis: RedisService,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  @ApiOkResponse({ description: '`{ "status": "ok" }`' })
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @ApiOperation({ summary: 'Readiness: PostgreSQL and Redis reachable, with per-dependency detail' })
  @ApiOkResponse({ description: 'Ready: `{ status: "ok", info: { database, redis }, error: {}, details }`' })
  @ApiServiceUnavailableResponse({ description: 'Not ready: the same shape with `status: "error"`' })
  async ready(@Res({ passthrough: true }) res: Response) {
    try {
      return await this.health.check([
        () => this.typeorm.pingCheck('database', { timeout: 1500 }),
        () => this.redisCheck(),
      ]);
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      res.status(503);
      return err.getResponse();
    }
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics' })
  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  private async redisCheck() {
    const check = this.indicators.check('redis');
    if (!this.redis.client) return check.up({ mode: 'in-process' });
    try {
      await this.redis.ping(1500);
      return check.up({ mode: 'redis' });
    } catch (err) {
      // Degraded, not down: the instance keeps serving on its own view (state in process) until Redis returns.
      return check.degraded({
        mode: 'in-process fallback',
        message: err instanceof Error ? err.message : 'unreachable',
      });
    }
  }
}
