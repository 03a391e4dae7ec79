import assert from 'node:assert/strict';
import { createHmac, createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignJWT, type JWTPayload } from 'jose';
import { AppError } from '../common/errors';
import { bearerToken, NBF_TOLERANCE_S, TokenVerifier } from './token-verifier';

const SECRET = 'unit-test-secret-0123456789abcdef';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();
const RSA_PUBLIC_PEM = pem(rsa.publicKey);
const EC_PUBLIC_PEM = pem(ec.publicKey);

const now = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface SignOptions {
  alg?: 'HS256' | 'RS256' | 'ES256';
  key?: KeyObject | Uint8Array;
  sub?: string | null;
  exp?: number | null;
  claims?: JWTPayload;
}

/** Signs a token with jose; `sub: null` / `exp: null` leave the claim out. */
function sign(opts: SignOptions = {}): Promise<string> {
  const alg = opts.alg ?? 'HS256';
  const key =
    opts.key ??
    (alg === 'HS256'
      ? createSecretKey(Buffer.from(SECRET))
      : alg === 'RS256'
        ? rsa.privateKey
        : ec.privateKey);
  let jwt = new SignJWT({ ...opts.claims }).setProtectedHeader({ alg, typ: 'JWT' }).setIssuedAt();
  if (opts.sub !== null) jwt = jwt.setSubject(opts.sub ?? 'alice');
  if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? now() + 600);
  return jwt.sign(key);
}

async function refused(verifier: TokenVerifier, token: unknown, message?: RegExp): Promise<AppError> {
  try {
    await verifier.verify(token);
  } catch (err) {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, 'UNAUTHENTICATED');
    assert.equal(err.status, 401);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail('the token was accepted');
}

const hs = new TokenVerifier({ secret: SECRET });
const rs = new TokenVerifier({ publicKeyPem: RSA_PUBLIC_PEM });
const es = new TokenVerifier({ publicKeyPem: EC_PUBLIC_PEM });

describe('TokenVerifier', () => {
  describe('accepts valid tokens', () => {
    it('HS256 with the shared secret', async () => {
      const exp = now() + 300;
      const user = await hs.verify(await sign({ sub: 'alice', exp }));
      assert.deepEqual(user, { id: 'alice', roles: [], exp });
    });

    it('RS256 with the RSA public key', async () => {
      const user = await rs.verify(await sign({ alg: 'RS256', sub: 'bob' }));
      assert.equal(user.id, 'bob');
    });

    it('ES256 with the EC public key', async () => {
      const user = await es.verify(await sign({ alg: 'ES256', sub: 'carol' }));
      assert.equal(user.id, 'carol');
    });

    it('every user id character class of the contract', async () => {
      const id = 'A-z_0.9:x';
      assert.equal((await hs.verify(await sign({ sub: id }))).id, id);
      const longest = 'u'.repeat(64);
      assert.equal((await hs.verify(await sign({ sub: longest }))).id, longest);
    });

    it('both HS256 and RS256 when a secret and a public key are configured', async () => {
      const both = new TokenVerifier({ secret: SECRET, publicKeyPem: RSA_PUBLIC_PEM });
      assert.equal((await both.verify(await sign())).id, 'alice');
      assert.equal((await both.verify(await sign({ alg: 'RS256' }))).id, 'alice');
    });
  });

  describe('roles claim', () => {
    it('is parsed into a string array', async () => {
      const user = await hs.verify(await sign({ claims: { roles: ['admin', 'agent'] } }));
      assert.deepEqual(user.roles, ['admin', 'agent']);
    });

    it('keeps only the string entries', async () => {
      const user = await hs.verify(await sign({ claims: { roles: ['admin', 42, null, { x: 1 }] } }));
      assert.deepEqual(user.roles, ['admin']);
    });

    it('is empty when absent or not an array', async () => {
      assert.deepEqual((await hs.verify(await sign())).roles, []);
      assert.deepEqual((await hs.verify(await sign({ claims: { roles: 'admin' } }))).roles, []);
    });
  });

  describe('refuses', () => {
    it('a missing token', async () => {
      await refused(hs, undefined, /missing/i);
      await refused(hs, '', /missing/i);
      await refused(hs, null, /missing/i);
      await refused(hs, 42, /missing/i);
    });

    it('a malformed token', async () => {
      await refused(hs, 'not-a-jwt', /malformed/i);
      await refused(hs, 'a.b.c', /malformed/i);
      // Unverifiable garbage fails on its signature; a validly signed non-JSON payload is malformed.
      await refused(hs, `${b64url({ alg: 'HS256' })}.not-json.sig`);
      const input = `${b64url({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}`;
      const mac = createHmac('sha256', SECRET).update(input).digest('base64url');
      await refused(hs, `${input}.${mac}`, /malformed/i);
      await refused(hs, 'x'.repeat(9000), /malformed/i);
    });

    it('a wrong signature', async () => {
      await refused(hs, await sign({ key: createSecretKey(Buffer.from('another-secret')) }), /signature/i);
      await refused(rs, await sign({ alg: 'RS256', key: otherRsa.privateKey }), /signature/i);
    });

    it('a token whose payload was altered after signing', async () => {
      const [header, , signature] = (await sign({ sub: 'alice' })).split('.');
      const forged = b64url({ sub: 'admin', roles: ['admin'], exp: now() + 600 });
      await refused(hs, `${header}.${forged}.${signature}`, /signature/i);
    });

    it('an expired token', async () => {
      await refused(hs, await sign({ exp: now() - 5 }), /expired/i);
      await refused(rs, await sign({ alg: 'RS256', exp: now() - 5 }), /expired/i);
    });

    it("a token whose nbf is more than NBF_TOLERANCE_S ahead; one less far ahead is taken (the issuer's clock)", async () => {
      for (const v of [hs, rs]) {
        const alg = v === rs ? 'RS256' : 'HS256';
        const soon = await sign({ alg, claims: { nbf: now() + 30 } });
        assert.equal((await v.verify(soon)).id, 'alice', `${alg}: nbf 30 s ahead`);
        await refused(v, await sign({ alg, claims: { nbf: now() + NBF_TOLERANCE_S + 30 } }), /nbf/);
        // The tolerance is not lent to exp.
        await refused(v, await sign({ alg, exp: now() - 1 }), /expired/i);
      }
    });

    it('a token without exp', async () => {
      await refused(hs, await sign({ exp: null }), /exp/);
    });

    it('a token without sub', async () => {
      await refused(hs, await sign({ sub: null }), /sub/);
    });

    it('a sub that is not a valid user id', async () => {
      for (const sub of ['has space', 'a/b', 'é', 'u'.repeat(65), '']) {
        await refused(hs, await sign({ sub }), /sub|user id|malformed/i);
      }
      // A non-string sub, crafted by hand and validly signed.
      const nonString = await new SignJWT({ sub: 123 as unknown as string })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime(now() + 600)
        .sign(createSecretKey(Buffer.from(SECRET)));
      await refused(hs, nonString);
    });

    it('alg "none" (unsigned token)', async () => {
      const payload = b64url({ sub: 'alice', roles: ['admin'], exp: now() + 600 });
      for (const header of [{ alg: 'none' }, { alg: 'none', typ: 'JWT' }, { alg: 'None' }]) {
        const unsigned = `${b64url(header)}.${payload}.`;
        await refused(hs, unsigned);
        await refused(rs, unsigned);
        await refused(es, unsigned);
      }
    });

    it('algorithm confusion: HS256 signed with the RSA public key PEM as the HMAC secret', async () => {
      const forged = await sign({ alg: 'HS256', key: new TextEncoder().encode(RSA_PUBLIC_PEM) });
      await refused(rs, forged, /algorithm/i);
      const forgedEc = await sign({ alg: 'HS256', key: new TextEncoder().encode(EC_PUBLIC_PEM) });
      await refused(es, forgedEc, /algorithm/i);
    });

    it('an algorithm that does not match the configured key', async () => {
      await refused(hs, await sign({ alg: 'RS256' }), /algorithm/i);
      await refused(rs, await sign({ alg: 'ES256' }), /algorithm/i);
      await refused(es, await sign({ alg: 'RS256' }), /algorithm/i);
      await refused(rs, await sign(), /algorithm/i);
    });

    it('a token signed by the wrong key of the right type', async () => {
      const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await refused(es, await sign({ alg: 'ES256', key: otherEc.privateKey }), /signature/i);
    });
  });

  describe('issuer and audience', () => {
    const strict = new TokenVerifier({ secret: SECRET, issuer: 'https://id.example', audience: 'chat' });
    const good = { iss: 'https://id.example', aud: 'chat' };

    it('accepts the configured issuer and audience', async () => {
      assert.equal((await strict.verify(await sign({ claims: good }))).id, 'alice');
      const multiAud = await sign({ claims: { ...good, aud: ['other', 'chat'] } });
      assert.equal((await strict.verify(multiAud)).id, 'alice');
    });

    it('refuses a wrong or missing issuer', async () => {
      await refused(strict, await sign({ claims: { ...good, iss: 'https://evil.example' } }), /iss/);
      await refused(strict, await sign({ claims: { aud: 'chat' } }), /iss/);
    });

    it('refuses a wrong or missing audience', async () => {
      await refused(strict, await sign({ claims: { ...good, aud: 'billing' } }), /aud/);
      await refused(strict, await sign({ claims: { iss: good.iss } }), /aud/);
    });

    it('are not checked when not configured', async () => {
      const user = await hs.verify(await sign({ claims: { iss: 'anyone', aud: 'anything' } }));
      assert.equal(user.id, 'alice');
    });
  });

  describe('configuration', () => {
    it('needs a secret or a public key', () => {
      assert.throws(() => new TokenVerifier({}), /JWT_SECRET or JWT_PUBLIC_KEY/);
    });

    it('refuses an unsupported public key type', () => {
      const ed = pem(generateKeyPairSync('ed25519').publicKey);
      assert.throws(() => new TokenVerifier({ publicKeyPem: ed }), /unsupported key type/);
    });
  });
});

/** A compact HS256 token with this exact header and payload, signed with `SECRET` (or `secret`). */
function rawHs256(header: unknown, payload: unknown, secret = SECRET): string {
  return signed(`${b64url(header)}.${b64url(payload)}`, secret);
}
/**
 * A signed token whose payload segment has one stray character (length 1 mod 4): Buffer decodes
 * it to the same JSON, jose refuses it as malformed.
 */
function lengthOneMod4(payload: Record<string, unknown>): string {
  let pad = '';
  while (b64url({ ...payload, pad }).length % 4 !== 0) pad += 'x';
  return signed(`${b64url({ alg: 'HS256' })}.${b64url({ ...payload, pad })}A`);
}
const signed = (input: string, secret = SECRET) =>
  `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;

describe('TokenVerifier: the synchronous HS256 path answers as jose does', () => {
  const opts = [{}, { issuer: 'https://id.example', audience: 'chat' }];
  const good = { sub: 'alice', exp: now() + 600, iat: now() };
  const cases = async (): Promise<[string, string][]> => {
    const valid = await sign();
    const [h, p] = valid.split('.');
    return [
      ['valid (jose-signed)', valid],
      ['valid (raw)', rawHs256({ alg: 'HS256' }, good)],
      ['with typ and kid', rawHs256({ alg: 'HS256', typ: 'JWT', kid: 'k1' }, good)],
      ['with crit (jose decides)', rawHs256({ alg: 'HS256', crit: ['x'], x: 1 }, good)],
      ['b64 false (jose decides)', rawHs256({ alg: 'HS256', b64: false, crit: ['b64'] }, good)],
      ['expired', rawHs256({ alg: 'HS256' }, { ...good, exp: now() - 1 })],
      ['expiring now', rawHs256({ alg: 'HS256' }, { ...good, exp: now() })],
      ['exp a string', rawHs256({ alg: 'HS256' }, { ...good, exp: String(now() + 600) })],
      ['no exp', rawHs256({ alg: 'HS256' }, { sub: 'alice' })],
      ['no sub', rawHs256({ alg: 'HS256' }, { exp: now() + 600 })],
      ['sub not a user id', rawHs256({ alg: 'HS256' }, { ...good, sub: 'a b' })],
      ['sub a number', rawHs256({ alg: 'HS256' }, { ...good, sub: 42 })],
      ['nbf in the future', rawHs256({ alg: 'HS256' }, { ...good, nbf: now() + 120 })],
      ['nbf a little ahead', rawHs256({ alg: 'HS256' }, { ...good, nbf: now() + 20 })],
      ['nbf now', rawHs256({ alg: 'HS256' }, { ...good, nbf: now() })],
      ['nbf a string', rawHs256({ alg: 'HS256' }, { ...good, nbf: 'soon' })],
      ['iat a string', rawHs256({ alg: 'HS256' }, { ...good, iat: 'then' })],
      ['iss and aud right', rawHs256({ alg: 'HS256' }, { ...good, iss: 'https://id.example', aud: 'chat' })],
      ['aud a list', rawHs256({ alg: 'HS256' }, { ...good, iss: 'https://id.example', aud: ['x', 'chat'] })],
      ['iss wrong', rawHs256({ alg: 'HS256' }, { ...good, iss: 'https://evil.example', aud: 'chat' })],
      ['aud wrong', rawHs256({ alg: 'HS256' }, { ...good, iss: 'https://id.example', aud: 'other' })],
      [
        'expired and iss wrong',
        rawHs256({ alg: 'HS256' }, { ...good, exp: now() - 5, iss: 'x', aud: 'chat' }),
      ],
      ['roles', rawHs256({ alg: 'HS256' }, { ...good, roles: ['admin', 3, 'agent'] })],
      ['payload an array', rawHs256({ alg: 'HS256' }, [1, 2])],
      ['payload not JSON', `${b64url({ alg: 'HS256' })}.${Buffer.from('{nope').toString('base64url')}.x`],
      ['wrong secret', rawHs256({ alg: 'HS256' }, good, 'another-secret-0123456789abcdef')],
      ['altered payload', `${h}.${b64url({ ...good, sub: 'mallory' })}.${valid.split('.')[2]}`],
      ['signature cut short', `${h}.${p}.${valid.split('.')[2]!.slice(0, 20)}`],
      ['padded signature', `${valid}=`],
      ['a character outside base64url', `${h}.${p}.${valid.split('.')[2]!.replace(/^./, '+')}`],
      ['alg none', `${b64url({ alg: 'none' })}.${b64url(good)}.`],
      ['alg RS256 in the header', rawHs256({ alg: 'RS256' }, good)],
      ['two segments', `${h}.${p}`],
      [
        'payload not UTF-8',
        signed(`${b64url({ alg: 'HS256' })}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}`),
      ],
      ['no iss, no aud', rawHs256({ alg: 'HS256' }, good)],
      ['a payload segment of length 1 mod 4', lengthOneMod4(good)],
    ];
  };
  const outcome = (v: TokenVerifier, token: string) =>
    v.verify(token).then(
      (user) => ({ user }),
      (err: unknown) => ({ error: err instanceof AppError ? `${err.code}: ${err.message}` : String(err) }),
    );

  for (const o of opts)
    it(`every case, ${o.issuer ? 'with' : 'without'} issuer and audience`, async () => {
      const fast = new TokenVerifier({ secret: SECRET, ...o });
      const jose = new TokenVerifier({ secret: SECRET, ...o, joseOnly: true });
      let accepted = 0;
      for (const [name, token] of await cases()) {
        const expected = await outcome(jose, token);
        assert.deepEqual(await outcome(fast, token), expected, name);
        if ('user' in expected) accepted++;
      }
      assert.ok(accepted >= 2, 'the comparison includes accepted tokens');
    });
});

describe('bearerToken', () => {
  it('extracts the token of a Bearer authorization header', () => {
    assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
    assert.equal(bearerToken('bearer   abc.def.ghi  '), 'abc.def.ghi');
  });

  it('returns undefined for anything else', () => {
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken(['Bearer x']), undefined);
    assert.equal(bearerToken('Basic dXNlcjpwdw=='), undefined);
    assert.equal(bearerToken('Bearer'), undefined);
    assert.equal(bearerToken('Bearer a b'), undefined);
    assert.equal(bearerToken('abc.def.ghi'), undefined);
  });
});
