import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/env';
import { signDevToken } from './dev-token';

/** `npm run token -- <userId> [--admin] [--ttl 3600]`: prints a dev token (CONTRACT §8). */
async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { admin: { type: 'boolean', default: false }, ttl: { type: 'string', default: '3600' } },
  });
  const config = loadConfig();
  if (config.isProduction) {
    console.error('token: refusing to issue a development token when NODE_ENV=production');
    return 1;
  }
  const userId = positionals[0];
  const ttlS = Number(values.ttl);
  if (!userId || !/^[A-Za-z0-9._:-]{1,64}$/.test(userId) || !Number.isInteger(ttlS) || ttlS <= 0) {
    console.error('usage: npm run token -- <userId> [--admin] [--ttl seconds]');
    return 2;
  }
  if (!config.jwtSecret) {
    console.error('token: no JWT_SECRET in force (only JWT_PUBLIC_KEY is configured); cannot sign');
    return 1;
  }
  const token = await signDevToken(userId, {
    secret: config.jwtSecret,
    admin: values.admin,
    ttlS,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
  });
  process.stdout.write(token + '\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  },
);
