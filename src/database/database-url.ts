import type { AppConfig } from '../config/env';
import { startEmbeddedPostgres } from '../embedded/embedded-postgres';

/** `DATABASE_URL`, or the embedded database started for it (development only). */
export async function resolveDatabaseUrl(
  config: AppConfig,
  log: (line: string) => void,
): Promise<{ url: string; embedded: boolean; stop: () => Promise<void> }> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, stop: async () => undefined };
  const db = await startEmbeddedPostgres(config.DATA_DIR, config.EMBEDDED_PG_PORT, log);
  return { url: db.url, embedded: true, stop: () => db.stop() };
}
