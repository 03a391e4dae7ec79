import { createHmac, createPublicKey, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
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
  /** Verify HS256 through jose too, never through the synchronous path (tests compare the two). */
  joseOnly?: boolean;
}

const USER_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * A token whose `nbf` is at most this far in the future is taken: the issuer's clock may be a little
 * ahead of ours, and a token used as soon as it is issued must not be refused for that. `exp` has no
 * such allowance (a token is never taken after it expired, and sockets are closed at `exp`).
 */
export const NBF_TOLERANCE_S = 60;

/**
 * Verifies bearer tokens (CONTRACT §1). The accepted algorithms follow from the configured keys,
 * never from the token: HS256 only with a secret, RS256/ES256 only with a public key, so
 * `alg: none` and HS256-signed-with-the-public-key are refused.
 */
export class TokenVerifier {
  private readonly keys = new Map<string, KeyObject>();
  private readonly options: JWTVerifyOptions;
  /** The HS256 key for the synchronous path (node:crypto HMAC), when a secret is configured. */
  private readonly hmacKey: KeyObject | undefined;

  constructor(opts: VerifierOptions) {
    if (opts.secret) this.keys.set('HS256', createSecretKey(Buffer.from(opts.secret, 'utf8')));
    if (opts.publicKeyPem) {
      const key = createPublicKey(opts.publicKeyPem);
      if (key.asymmetricKeyType === 'rsa') this.keys.set('RS256', key);
      else if (key.asymmetricKeyType === 'ec') this.keys.set('ES256', key);
      else throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
    }
    if (this.keys.size === 0) throw new Error('JWT_SECRET or JWT_PUBLIC_KEY is required');
    this.hmacKey = opts.joseOnly ? undefined : this.keys.get('HS256');
    this.options = {
      algorithms: [...this.keys.keys()],
      requiredClaims: ['exp', 'sub'],
      // jose applies it to exp as well: exp is checked again, strictly, after it (verify).
      clockTolerance: NBF_TOLERANCE_S,
      ...(opts.issuer ? { issuer: opts.issuer } : {}),
      ...(opts.audience ? { audience: opts.audience } : {}),
    };
  }

  /** Returns the user of a valid token; throws AppError UNAUTHENTICATED with the reason otherwise. */
  async verify(token: unknown): Promise<AuthUser> {
    if (typeof token !== 'string' || token.length === 0) throw unauthenticated('Missing bearer token');
    if (token.length > 8192) throw unauthenticated('Malformed token');
    const fast = this.hmacKey && this.verifyHs256(token, this.hmacKey);
    if (fast) return fast;
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
      if (typeof payload.exp === 'number' && payload.exp <= Math.floor(Date.now() / 1000))
        throw unauthenticated('Token expired');
      return userOf(payload);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw unauthenticated(reasonFor(err));
    }
  }

  /**
   * HS256 without WebCrypto: node:crypto's HMAC, synchronous, a fraction of jose's cost (which
   * was a fifth of the service's CPU in a connect storm, BENCHMARKS.md). Takes only the plain
   * case, a compact token whose header is `{ alg: "HS256" }` (and `typ`, `kid`) with no `crit` or
   * `b64`; anything else returns undefined and goes to jose. The claims are checked as jose checks
   * them with the same options (required `exp` and `sub`, `iss`, `aud`, `nbf` with NBF_TOLERANCE_S,
   * `iat`) and refused with the same reasons; token-verifier.spec.ts compares the two case by case.
   */
  private verifyHs256(token: string, key: KeyObject): AuthUser | undefined {
    const parts = token.split('.');
    // jose refuses a segment of length 1 mod 4 (a stray character); Buffer would skip it.
    if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p) && p.length % 4 !== 1)) return undefined;
    const header = jsonSegment(parts[0]!);
    if (!header || header.alg !== 'HS256' || Object.keys(header).some((k) => !PLAIN_HEADER.has(k)))
      return undefined;
    const given = Buffer.from(parts[2]!, 'base64url');
    // Not an HMAC-SHA256's length (or not decodable): jose's own reason for it.
    if (given.length !== 32) return undefined;
    const expected = createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest();
    if (!timingSafeEqual(given, expected)) throw unauthenticated('Token signature invalid');
    const payload = jsonSegment(parts[1]!);
    if (!payload) throw unauthenticated('Malformed token');
    // jose's order: presence (iss, aud, then the required sub and exp), values, then the dates.
    const { issuer, audience } = this.options;
    const present = [
      ...(issuer !== undefined ? ['iss'] : []),
      ...(audience !== undefined ? ['aud'] : []),
      'sub',
      'exp',
    ];
    for (const claim of present)
      if (!Object.hasOwn(payload, claim)) throw unauthenticated(`Token claim invalid: ${claim}`);
    if (issuer !== undefined && payload.iss !== issuer) throw unauthenticated('Token claim invalid: iss');
    if (audience !== undefined) {
      const aud = payload.aud;
      const ok = typeof aud === 'string' ? aud === audience : Array.isArray(aud) && aud.includes(audience);
      if (!ok) throw unauthenticated('Token claim invalid: aud');
    }
    const now = Math.floor(Date.now() / 1000);
    if (payload.iat !== undefined && typeof payload.iat !== 'number')
      throw unauthenticated('Token claim invalid: iat');
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now + NBF_TOLERANCE_S))
      throw unauthenticated('Token claim invalid: nbf');
    if (typeof payload.exp !== 'number') throw unauthenticated('Token claim invalid: exp');
    if (payload.exp <= now) throw unauthenticated('Token expired');
    return userOf(payload);
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Header parameters the synchronous HS256 path takes (anything else: jose decides). */
const PLAIN_HEADER = new Set(['alg', 'typ', 'kid']);

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A base64url JSON segment (strict UTF-8, as jose reads it) as a plain object, or undefined. */
function jsonSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(UTF8.decode(Buffer.from(segment, 'base64url')));
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The user a verified payload names (its `sub` must be a contract user id). */
function userOf(payload: Record<string, unknown>): AuthUser {
  const sub = payload.sub;
  if (typeof sub !== 'string' || !USER_ID.test(sub))
    throw unauthenticated('Token subject is not a valid user id');
  const roles = Array.isArray(payload.roles)
    ? payload.roles.filter((r): r is string => typeof r === 'string')
    : [];
  return { id: sub, roles, exp: payload.exp as number };
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
