import 'reflect-metadata';
import { createApp } from './app';
import { ConfigError, loadConfig, type AppConfig } from './config/env';
import { resolveDatabaseUrl } from './database/database-url';

async function bootstrap(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
  const db = await resolveDatabaseUrl(config, (line) => console.error(line));
  const app = await createApp({ config, databaseUrl: db.url });
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
