import { createTestDatabase } from '../test/support/db';
import { startService } from './lib/service';
void (async () => {
  const db = await createTestDatabase();
  const svc = await startService({ databaseUrl: db.url, basePort: 3900, log: console.error, redisUrl: process.env.ZZ_REDIS, env: {} });
  console.log('READY', svc.instances.map((i) => i.pid).join(','));
  process.on('SIGINT', async () => { await svc.stop(); await db.drop(); process.exit(0); });
})();
