import 'reflect-metadata';
import { ConfigError, loadConfig, type AppConfig } from './config/env';
import { startTracing } from './observability/tracing';

async function bootstrap(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
  // OpenTelemetry (OTEL_* variables) must hook pg, ioredis and http before the app loads them.
  try {
    startTracing();
  } catch (err) {
    console.error('tracing is off, it could not start:', err instanceof Error ? err.message : err);
  }
  // The app is loaded only once the configuration is known to be good, so a bad value is reported at once.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { resolveDatabaseUrl } =
    require('./database/database-url') as typeof import('./database/database-url');
  const { createApp } = require('./app') as typeof import('./app');
  const { Logger } = require('@nestjs/common') as typeof import('@nestjs/common');
  const { MetricsService } =
    require('./observability/metrics.service') as typeof import('./observability/metrics.service');
  const { keepServingOnUnhandledRejections } =
    require('./observability/process-errors') as typeof import('./observability/process-errors');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const db = await resolveDatabaseUrl(config, (line) => console.error(line));
  const app = await createApp({ config, databaseUrl: db.url });
  // A stray rejected promise is logged and counted, not the end of every connection here.
  const metrics = app.get(MetricsService);
  keepServingOnUnhandledRejections(new Logger('Process'), () => metrics.unhandledRejections.inc());
  // A shutdown that cannot finish (a query stuck behind a lock, a dependency that never answers)
  // must not outlive the orchestrator's grace period: after SHUTDOWN_TIMEOUT_MS the process exits anyway.
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.once(signal, () => {
      setTimeout(() => {
        console.error(`shutdown did not finish within ${config.SHUTDOWN_TIMEOUT_MS} ms: exiting`);
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS).unref();
    });
  process.once('beforeExit', () => void db.stop());
  app.getHttpServer().once('close', () => void db.stop());
  await app.listen(config.PORT, config.HOST);
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
  const url = `http://${host}:${config.PORT}`;
  const lines = [
    `chat service ready on ${url}`,
    `  API docs:  ${url}/docs`,
    `  database:  ${db.embedded ? `embedded PostgreSQL in ${config.DATA_DIR}/pg` : 'DATABASE_URL'}`,
    `  state:     ${config.REDIS_URL ? 'Redis (REDIS_URL)' : 'in-process (single instance)'}`,
  ];
  if (!config.isProduction && config.jwtSecret)
    lines.push('  dev token: npm run token -- <userId> [--admin]');
  console.error(lines.join('\n'));
}

bootstrap().catch((err: unknown) => {
  console.error('failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
