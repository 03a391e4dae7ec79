import assert from 'node:assert/strict';
import { createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Controller, Get, Module } from '@nestjs/common';
import { SignJWT, type JWTPayload } from 'jose';
import { CurrentUser, Public, Roles } from '../src/auth/auth.guard';
import type { AuthUser } from '../src/auth/token-verifier';
import { DEV_JWT_SECRET } from '../src/config/env';
import { http, testWorld, token, type TestApp } from './support/app';
import { assertError } from './support/errors';

@Controller('_probe')
class AuthProbeController {
  @Get('me')
  me(@CurrentUser() user: AuthUser) {
    return { id: user.id, roles: user.roles };
  }

  @Roles('admin')
  @Get('admin')
  admin(@CurrentUser() user: AuthUser) {
    return { admin: user.id };
  }

  @Public()
  @Get('public')
  open() {
    return { public: true };
  }
}

@Module({ controllers: [AuthProbeController] })
class AuthProbeModule {}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PUBLIC_PEM = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const now = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const devKey = createSecretKey(Buffer.from(DEV_JWT_SECRET));

function sign(
  opts: {
    alg?: 'HS256' | 'RS256';
    key?: KeyObject | Uint8Array;
    sub?: string | null;
    exp?: number | null;
    claims?: JWTPayload;
  } = {},
): Promise<string> {
  const alg = opts.alg ?? 'HS256';
  let jwt = new SignJWT({ ...opts.claims }).setProtectedHeader({ alg, typ: 'JWT' }).setIssuedAt();
  if (opts.sub !== null) jwt = jwt.setSubject(opts.sub ?? 'alice');
  if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? now() + 600);
  return jwt.sign(opts.key ?? (alg === 'HS256' ? devKey : rsa.privateKey));
}

type Res = Awaited<ReturnType<typeof http>>;

/** The contract's error shape (CONTRACT §0), and nothing else in the body. */

function assertUnauthenticated(res: Res): void {
  assertError(res, 401, 'UNAUTHENTICATED');
  assert.deepEqual(Object.keys(res.body).sort(), ['code', 'message', 'requestId', 'statusCode']);
}

const withAuth = (authorization: string) => ({ headers: { authorization } });

describe('REST authentication (HS256 with the dev secret)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld();
    app = await world.start({}, [AuthProbeModule]);
  });
  after(() => world.close());

  it('a valid token reaches the route with its user', async () => {
    const res = await http(app.url, 'GET', '/_probe/me', { token: await token('alice') });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { id: 'alice', roles: [] });
    assert.ok(res.headers.get('x-request-id'));
  });

  it('the scheme is case-insensitive', async () => {
    const res = await http(app.url, 'GET', '/_probe/me', withAuth(`bearer ${await token('alice')}`));
    assert.equal(res.status, 200);
  });

  it('public routes need no token', async () => {
    assert.equal((await http(app.url, 'GET', '/_probe/public')).status, 200);
    assert.equal((await http(app.url, 'GET', '/health/live')).status, 200);
  });

  it('refuses a request without an Authorization header', async () => {
    const res = await http(app.url, 'GET', '/_probe/me');
    assertUnauthenticated(res);
    assert.match(res.body.message, /missing/i);
  });

  it('refuses other schemes and an empty bearer', async () => {
    const basic = Buffer.from('alice:pw').toString('base64');
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', withAuth(`Basic ${basic}`)));
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', withAuth('Bearer')));
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', withAuth('Bearer ')));
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', withAuth(await token('alice'))));
  });

  const refusals: [name: string, make: () => Promise<string>][] = [
    ['a malformed token', () => Promise.resolve('not.a.jwt')],
    ['a garbage token', () => Promise.resolve('garbage')],
    ['a wrong signature', () => sign({ key: createSecretKey(Buffer.from('not-the-dev-secret')) })],
    ['an expired token', () => token('alice', { ttlS: -10 })],
    ['a token without exp', () => sign({ exp: null })],
    ['a token without sub', () => sign({ sub: null })],
    ['a token with an invalid sub', () => sign({ sub: 'not a valid id' })],
    ['a token with a too long sub', () => sign({ sub: 'u'.repeat(65) })],
    [
      'an alg "none" token',
      () => Promise.resolve(`${b64url({ alg: 'none' })}.${b64url({ sub: 'alice', exp: now() + 600 })}.`),
    ],
    ['an RS256 token when only HS256 is configured', () => sign({ alg: 'RS256' })],
    [
      'a token whose payload was swapped',
      async () => {
        const [h, , s] = (await token('alice')).split('.');
        return `${h}.${b64url({ sub: 'mallory', roles: ['admin'], exp: now() + 600 })}.${s}`;
      },
    ],
  ];
  for (const [name, make] of refusals) {
    it(`refuses ${name} with 401 UNAUTHENTICATED`, async () => {
      assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', { token: await make() }));
    });
  }

  it('the expired token is refused as expired', async () => {
    const res = await http(app.url, 'GET', '/_probe/me', { token: await token('alice', { ttlS: -10 }) });
    assertUnauthenticated(res);
    assert.match(res.body.message, /expired/i);
  });

  it('the refusal echoes a valid incoming x-request-id', async () => {
    const res = await http(app.url, 'GET', '/_probe/me', { headers: { 'x-request-id': 'auth-req-1' } });
    assertUnauthenticated(res);
    assert.equal(res.body.requestId, 'auth-req-1');
  });

  describe('admin-only routes', () => {
    it('answer 403 FORBIDDEN to a valid non-admin token', async () => {
      const res = await http(app.url, 'GET', '/_probe/admin', { token: await token('alice') });
      assertError(res, 403, 'FORBIDDEN');
      assert.deepEqual(Object.keys(res.body).sort(), ['code', 'message', 'requestId', 'statusCode']);
    });

    it('answer 403 to other roles', async () => {
      const res = await http(app.url, 'GET', '/_probe/admin', {
        token: await sign({ claims: { roles: ['agent', 'Admin'] } }),
      });
      assertError(res, 403, 'FORBIDDEN');
    });

    it('answer 401 (not 403) without a valid token', async () => {
      assertUnauthenticated(await http(app.url, 'GET', '/_probe/admin'));
      assertUnauthenticated(
        await http(app.url, 'GET', '/_probe/admin', {
          token: await token('root', { admin: true, ttlS: -5 }),
        }),
      );
    });

    it('let an admin through', async () => {
      const res = await http(app.url, 'GET', '/_probe/admin', {
        token: await token('root', { admin: true }),
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { admin: 'root' });
    });
  });
});

describe('REST authentication with issuer and audience configured', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  const good = { iss: 'https://id.example.com', aud: 'chat-service' };
  before(async () => {
    world = await testWorld();
    app = await world.start({ JWT_ISSUER: good.iss, JWT_AUDIENCE: good.aud }, [AuthProbeModule]);
  });
  after(() => world.close());

  it('accepts a token with the configured issuer and audience', async () => {
    const res = await http(app.url, 'GET', '/_probe/me', { token: await sign({ claims: good }) });
    assert.equal(res.status, 200);
    assert.equal(res.body.id, 'alice');
  });

  const cases: [string, JWTPayload][] = [
    ['a wrong issuer', { ...good, iss: 'https://evil.example.com' }],
    ['a missing issuer', { aud: good.aud }],
    ['a wrong audience', { ...good, aud: 'billing' }],
    ['a missing audience', { iss: good.iss }],
  ];
  for (const [name, claims] of cases) {
    it(`refuses ${name} with 401`, async () => {
      assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', { token: await sign({ claims }) }));
    });
  }

  it('refuses the plain dev token (no iss/aud)', async () => {
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', { token: await token('alice') }));
  });
});

describe('REST authentication with only JWT_PUBLIC_KEY (RS256)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld();
    app = await world.start({ JWT_PUBLIC_KEY: RSA_PUBLIC_PEM }, [AuthProbeModule]);
  });
  after(() => world.close());

  it('accepts an RS256 token signed with the matching private key', async () => {
    const res = await http(app.url, 'GET', '/_probe/me', {
      token: await sign({ alg: 'RS256', sub: 'bob', claims: { roles: ['admin'] } }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { id: 'bob', roles: ['admin'] });
  });

  it('refuses an HS256 token signed with the dev secret (no silent dev fallback)', async () => {
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/me', { token: await token('alice') }));
  });

  it('refuses algorithm confusion: HS256 signed with the public key PEM as the secret', async () => {
    const forged = await sign({ alg: 'HS256', key: new TextEncoder().encode(RSA_PUBLIC_PEM) });
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/admin', { token: forged }));
  });

  it('refuses alg "none"', async () => {
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'bob', roles: ['admin'], exp: now() + 600 })}.`;
    assertUnauthenticated(await http(app.url, 'GET', '/_probe/admin', { token: unsigned }));
  });

  it('refuses an RS256 token signed by another key', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    assertUnauthenticated(
      await http(app.url, 'GET', '/_probe/me', {
        token: await sign({ alg: 'RS256', key: other.privateKey }),
      }),
    );
  });
});
