import { createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';

export interface DevTokenOptions {
  secret: string;
  admin?: boolean;
  roles?: string[];
  ttlS?: number;
  issuer?: string;
  audience?: string;
}

/** Signs an HS256 token for local use, the dev-token command and tests. */
export async function signDevToken(userId: string, opts: DevTokenOptions): Promise<string> {
  const roles = opts.roles ?? (opts.admin ? ['admin'] : []);
  let jwt = new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.ttlS ?? 3600));
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(createSecretKey(Buffer.from(opts.secret, 'utf8')));
}
