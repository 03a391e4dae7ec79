import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppModule, type AppModuleOptions } from './app.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { requestIdMiddleware } from './common/request-id';
import { createValidationPipe } from './common/validation';
import { setupOpenApi } from './openapi';
import { httpMetricsMiddleware } from './observability/http-metrics.middleware';
import { MetricsService } from './observability/metrics.service';
import { shedUnsampledRequests } from './observability/spans';
import { sampleRequestsAtEdge, tracingEnabled } from './observability/tracing';
import { ChatIoAdapter } from './realtime/socket-io.adapter';
import { serveWebApp } from './web/web-app';

/**
 * Builds the whole service (HTTP + Socket.IO) without listening: `main.ts` and the end-to-end
 * tests boot it the same way.
 */
export async function createApp(options: AppModuleOptions): Promise<NestExpressApplication> {
  const { config } = options;
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), {
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  sampleRequestsAtEdge(app.getHttpServer());
  app.set('trust proxy', true);
  app.set('x-powered-by', false);
  app.use(requestIdMiddleware);
  app.use(httpMetricsMiddleware(app.get(MetricsService)));
  app.use(helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));
  app.enableCors({
    origin: config.CORS_ORIGINS.length ? config.CORS_ORIGINS : true,
    exposedHeaders: ['x-request-id', 'Retry-After', 'traceresponse'],
  });
  app.useBodyParser('json', { limit: config.BODY_LIMIT_BYTES });
  if (tracingEnabled()) app.use(shedUnsampledRequests);
  app.useGlobalFilters(new HttpExceptionFilter(app.get(MetricsService)));
  app.useGlobalPipes(createValidationPipe());
  app.useWebSocketAdapter(new ChatIoAdapter(app, config));
  app.enableShutdownHooks();
  setupOpenApi(app);
  serveWebApp(app);
  return app;
}
