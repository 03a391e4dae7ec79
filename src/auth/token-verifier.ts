import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTVerifyOptions } from 'jose';
import { AppError } from '../common/errors';

export interface AuthUser {
  id: string;
  roles: string[];
  /** Token expiry, seconds since the epoch. */
  exp: number;
}

export interface VerifierOptions {
  secret?: string;
  publicKeyPem?: string;
  issuer?: string;
  audience?: string;
}

const USER_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Verifies bearer tokens (CONTRACT §1). The accepted algorithms follow from the configured keys,
 * never from the token: HS256 only with a secret, RS256/ES256 only with a public key, so
 * `alg: none` and HS256-signed-with-the-public-key are refused.
 */
export class TokenVerifier {
  private readonly keys = new Map<string, KeyObject>();
  private readonly options: JWTVerifyOptions;

  constructor(opts: VerifierOptions) {
    if (opts.secret) this.keys.set('HS256', createSecretKey(Buffer.from(opts.secret, 'utf8')));
    if (opts.publicKeyPem) {
      const key = createPublicKey(opts.publicKeyPem);
      if (key.asymmetricKeyType === 'rsa') this.keys.set('RS256', key);
      else if (key.asymmetricKeyType === 'ec') this.keys.set('ES256', key);
      else throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
    }
    if (this.keys.size === 0) throw new Error('JWT_SECRET or JWT_PUBLIC_KEY is required');
    this.options = {
      algorithms: [...this.keys.keys()],
      requiredClaims: ['exp', 'sub'],
      ...(opts.issuer ? { issuer: opts.issuer } : {}),
      ...(opts.audience ? { audience: opts.audience } : {}),
    };
  }

  /** Returns the user of a valid token; throws AppError UNAUTHENTICATED with the reason otherwise. */
  async verify(token: unknown): Promise<AuthUser> {
    if (typeof token !== 'string' || token.length === 0) throw unauthenticated('Missing bearer token');
    if (token.length > 8192) throw unauthenticated('Malformed token');
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = this.keys.get(header.alg ?? '');
          if (!key) throw new joseErrors.JOSEAlgNotAllowed(`alg ${header.alg} not allowed`);
          return key;
        },
        this.options,
      );
      const sub = payload.sub;
      if (typeof sub !== 'string' || !USER_ID.test(sub))
        throw unauthenticated('Token subject is not a valid user id');
      const roles = Array.isArray(payload.roles)
        ? payload.roles.filter((r): r is string => typeof r === 'string')
        : [];
      return { id: sub, roles, exp: payload.exp as number };
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw unauthenticated(reasonFor(err));
    }
  }
}

function reasonFor(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'Token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `Token claim invalid: ${err.claim}`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'Token algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'Token signature invalid';
  return 'Malformed token';
}

const unauthenticated = (message: string) => new AppError('UNAUTHENTICATED', message);

/** `Authorization: Bearer <token>` → the token, or undefined. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
