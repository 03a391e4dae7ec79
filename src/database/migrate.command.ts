import { DataSource } from 'typeorm';
import { ConfigError, loadConfig } from '../config/env';
import { dataSourceOptions } from './data-source';
import { resolveDatabaseUrl } from './database-url';

/** `npm run migration:run` / `npm run migration:revert` (the last migration only). */
async function main(action: string | undefined): Promise<number> {
  if (action !== 'run' && action !== 'revert') {
    console.error('usage: migrate.command.ts run|revert');
    return 2;
  }
  const config = loadConfig();
  const db = await resolveDatabaseUrl(config, (line) => console.error(line));
  const ds = new DataSource({
    ...dataSourceOptions(config, db.url),
    migrationsRun: false,
    replication: undefined,
    url: db.url,
  } as never);
  await ds.initialize();
  try {
    if (action === 'run') {
      const done = await ds.runMigrations({ transaction: 'each' });
      console.log(done.length ? `applied: ${done.map((m) => m.name).join(', ')}` : 'no pending migration');
    } else {
      const before = await ds.query(`SELECT name FROM migrations ORDER BY id DESC LIMIT 1`).catch(() => []);
      await ds.undoLastMigration({ transaction: 'each' });
      console.log(before[0] ? `reverted: ${before[0].name}` : 'nothing to revert');
    }
  } finally {
    await ds.destroy();
    await db.stop();
  }
  return 0;
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  },
);
