import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Get, Module, Post } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsNotEmpty, IsOptional, IsString, MaxLength, Min, ValidateNested } from 'class-validator';
import { QueryFailedError } from 'typeorm';
import { Roles } from '../src/auth/auth.guard';
import { Db } from '../src/database/db';
import { http, testWorld, token, type TestApp } from './support/app';
import { assertError as assertContractError } from './support/errors';

class EchoInner {
  @IsInt()
  @Min(1)
  count!: number;
}

class EchoDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(4000)
  text!: string;

  @IsOptional()
  @ValidateNested()
  @Type(() => EchoInner)
  inner?: EchoInner;
}

@Controller('_probe')
class ErrorProbeController {
  constructor(private readonly db: Db) {}

  @Post('echo')
  echo(@Body() body: EchoDto) {
    return { text: body.text, inner: body.inner ?? null };
  }

  @Roles('admin')
  @Get('admin')
  admin() {
    return { ok: true };
  }

  @Get('boom')
  boom(): never {
    throw new Error("SELECT password_hash FROM users WHERE email = 'ceo@example.com'");
  }

  @Get('boom-typeorm')
  boomTypeorm(): never {
    throw new QueryFailedError(
      'INSERT INTO messages (id, content) VALUES ($1, $2)',
      ['0190c1c4-0000-7000-8000-000000000000', 'top secret text'],
      new Error('duplicate key value violates unique constraint "messages_pkey"'),
    );
  }

  @Get('boom-db')
  async boomDb() {
    // A real failing query through the real pool: its error carries the SQL and the parameters.
    return this.db.query('SELECT secret_column FROM no_such_table WHERE id = $1', ['leaky-param-value']);
  }
}

@Module({ controllers: [ErrorProbeController] })
class ErrorProbeModule {}

type Res = Awaited<ReturnType<typeof http>>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The contract's error shape (CONTRACT §0), and nothing else in the body. */
/** The contract's error shape; `details` only where asked for (validation), exactly. */
function assertError(res: Res, status: number, code: string, withDetails = false): void {
  assertContractError(res, status, code, '', withDetails ? 'required' : 'absent');
}

/** No stack trace, no SQL, no query parameter, no driver text anywhere in the response. */
function assertNoLeak(res: Res): void {
  const text = JSON.stringify(res.body);
  for (const leak of [
    /SELECT/i,
    /INSERT/i,
    /\bFROM\b/i,
    /no_such_table/,
    /secret_column/,
    /leaky-param-value/,
    /top secret text/,
    /password_hash/,
    /ceo@example\.com/,
    /duplicate key/,
    /messages_pkey/,
    /QueryFailedError/,
    /stack/i,
    /\bat .+\(.+:\d+:\d+\)/,
    /\.ts:\d+/,
  ]) {
    assert.doesNotMatch(text, leak, `the 500 body leaks ${leak}: ${text}`);
  }
}

describe('REST error responses', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let alice: string;
  before(async () => {
    world = await testWorld();
    app = await world.start({ BODY_LIMIT_BYTES: '2048' }, [ErrorProbeModule]);
    alice = await token('alice');
  });
  after(() => world.close());

  it('a valid request passes (the probe works)', async () => {
    const res = await http(app.url, 'POST', '/_probe/echo', {
      token: alice,
      body: { text: 'hi', inner: { count: 2 } },
    });
    assert.equal(res.status, 201);
    assert.deepEqual(res.body, { text: 'hi', inner: { count: 2 } });
  });

  describe('400 VALIDATION_FAILED', () => {
    it('for a malformed JSON body', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', {
        token: alice,
        rawBody: '{"text": "unterminated',
      });
      assertError(res, 400, 'VALIDATION_FAILED');
      assert.match(res.body.message, /JSON/);
      assert.doesNotMatch(JSON.stringify(res.body), /unterminated|position|SyntaxError/);
    });

    it('for a malformed JSON body even before authentication', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', { rawBody: '{,}' });
      assertError(res, 400, 'VALIDATION_FAILED');
    });

    it('for a missing required field, with details', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', { token: alice, body: {} });
      assertError(res, 400, 'VALIDATION_FAILED', true);
      const field = res.body.details.find((d: any) => d.field === 'text');
      assert.ok(field, JSON.stringify(res.body.details));
      assert.ok(Array.isArray(field.problems) && field.problems.length > 0);
      assert.ok(field.problems.every((p: unknown) => typeof p === 'string'));
      assert.ok(field.problems.includes(res.body.message), 'the message is the first problem');
    });

    it('for a body with fields on every route that takes none (after authentication, as for a body DTO)', async () => {
      const doc = (await http(app.url, 'GET', '/docs/openapi.json')).body;
      const admin = await token('root', { admin: true });
      // Every path parameter gets a UUID: a valid id of every kind (external ids allow its characters).
      const bodyless = Object.entries(
        doc.paths as Record<string, Record<string, { requestBody?: unknown }>>,
      ).flatMap(([path, operations]) =>
        Object.entries(operations)
          .filter(([method, op]) => ['post', 'put', 'patch', 'delete'].includes(method) && !op.requestBody)
          .map(([method]) => ({
            method: method.toUpperCase(),
            path: path.replace(/\{[^}]+\}/g, () => randomUUID()),
          })),
      );
      assert.ok(bodyless.length >= 5, `routes without a body: ${JSON.stringify(bodyless)}`);
      for (const { method, path } of bodyless) {
        const what = `${method} ${path}`;
        const none = await http(app.url, method, path, { token: admin });
        assert.notEqual(
          none.body?.code,
          'VALIDATION_FAILED',
          `${what} without a body: ${JSON.stringify(none.body)}`,
        );
        const empty = await http(app.url, method, path, { token: admin, body: {} });
        assert.equal(empty.status, none.status, `${what} with {}`);
        const extra = await http(app.url, method, path, { token: admin, body: { unexpected: 1 } });
        assertError(extra, 400, 'VALIDATION_FAILED', true);
        assert.deepEqual(
          extra.body.details.map((d: { field: string }) => d.field),
          ['unexpected'],
          what,
        );
        const list = await http(app.url, method, path, { token: admin, body: [1] });
        assertError(list, 400, 'VALIDATION_FAILED', true);
        const anonymous = await http(app.url, method, path, { body: { unexpected: 1 } });
        assert.equal(anonymous.status, 401, `${what} without a token`);
      }
    });

    it('for a wrongly typed field', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', { token: alice, body: { text: 42 } });
      assertError(res, 400, 'VALIDATION_FAILED', true);
      assert.deepEqual(
        res.body.details.map((d: any) => d.field),
        ['text'],
      );
    });

    it('names nested fields with a dotted path', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', {
        token: alice,
        body: { text: 'ok', inner: { count: 0 } },
      });
      assertError(res, 400, 'VALIDATION_FAILED', true);
      assert.deepEqual(
        res.body.details.map((d: any) => d.field),
        ['inner.count'],
      );
    });

    it('rejects unknown fields, top-level and nested', async () => {
      const top = await http(app.url, 'POST', '/_probe/echo', {
        token: alice,
        body: { text: 'ok', isAdmin: true },
      });
      assertError(top, 400, 'VALIDATION_FAILED', true);
      assert.ok(
        top.body.details.some((d: any) => d.field === 'isAdmin'),
        JSON.stringify(top.body.details),
      );
      assert.match(top.body.message, /isAdmin/);
      const nested = await http(app.url, 'POST', '/_probe/echo', {
        token: alice,
        body: { text: 'ok', inner: { count: 1, extra: 'x' } },
      });
      assertError(nested, 400, 'VALIDATION_FAILED', true);
      assert.ok(
        nested.body.details.some((d: any) => d.field === 'inner.extra'),
        JSON.stringify(nested.body.details),
      );
    });

    it('for a body the parser cannot decode (charset, content encoding): 400, not a stray 415', async () => {
      const cases: Record<string, string>[] = [
        { 'content-type': 'application/json; charset=latin1' },
        { 'content-type': 'application/json', 'content-encoding': 'compress-not-supported' },
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      ];
      for (const headers of cases) {
        const res = await http(app.url, 'POST', '/_probe/echo', {
          token: alice,
          rawBody: '{"text":"x"}',
          headers,
        });
        assertError(res, 400, 'VALIDATION_FAILED');
      }
    });

    it('rejects a body that is not an object', async () => {
      for (const rawBody of ['[]', '"text"', '42', 'null']) {
        const res = await http(app.url, 'POST', '/_probe/echo', { token: alice, rawBody });
        assert.equal(res.status, 400, `${rawBody}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 'VALIDATION_FAILED');
        assert.equal(res.headers.get('x-request-id'), res.body.requestId);
      }
    });
  });

  it('401 UNAUTHENTICATED without a token', async () => {
    assertError(
      await http(app.url, 'POST', '/_probe/echo', { body: { text: 'hi' } }),
      401,
      'UNAUTHENTICATED',
    );
  });

  it('403 FORBIDDEN for a non-admin on an admin route', async () => {
    assertError(await http(app.url, 'GET', '/_probe/admin', { token: alice }), 403, 'FORBIDDEN');
  });

  describe('404 NOT_FOUND', () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      it(`for an unknown route (${method}), with or without a token`, async () => {
        assertError(await http(app.url, method, '/no/such/route'), 404, 'NOT_FOUND');
        assertError(await http(app.url, method, '/no/such/route', { token: alice }), 404, 'NOT_FOUND');
      });
    }

    it('for a known path with an unsupported method', async () => {
      assertError(await http(app.url, 'DELETE', '/health/live'), 404, 'NOT_FOUND');
      assertError(await http(app.url, 'PUT', '/_probe/echo', { token: alice, body: {} }), 404, 'NOT_FOUND');
    });
  });

  describe('413 PAYLOAD_TOO_LARGE', () => {
    it('for a body over BODY_LIMIT_BYTES', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', {
        token: alice,
        body: { text: 'x'.repeat(3000) },
      });
      assertError(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('before authentication too (the body is never buffered past the limit)', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', { body: { text: 'y'.repeat(10_000) } });
      assertError(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('but not for a body just under the limit', async () => {
      const res = await http(app.url, 'POST', '/_probe/echo', {
        token: alice,
        body: { text: 'z'.repeat(1900) },
      });
      assert.equal(res.status, 201);
    });
  });

  describe('500 INTERNAL', () => {
    for (const route of ['/_probe/boom', '/_probe/boom-typeorm', '/_probe/boom-db']) {
      it(`leaks no stack and no SQL (${route})`, async () => {
        const res = await http(app.url, 'GET', route, { token: alice });
        assertError(res, 500, 'INTERNAL');
        assert.equal(res.body.message, 'Internal error');
        assertNoLeak(res);
      });
    }
  });

  describe('x-request-id', () => {
    it('echoes a valid incoming id, on success and on error', async () => {
      const ok = await http(app.url, 'GET', '/health/live', { headers: { 'x-request-id': 'req-1.A_b:c-9' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('x-request-id'), 'req-1.A_b:c-9');
      const max = 'r'.repeat(128);
      const err = await http(app.url, 'GET', '/nope', { headers: { 'x-request-id': max } });
      assertError(err, 404, 'NOT_FOUND');
      assert.equal(err.body.requestId, max);
    });

    it('echoes it on parser errors (413, malformed JSON) too', async () => {
      const big = await http(app.url, 'POST', '/_probe/echo', {
        body: { text: 'x'.repeat(5000) },
        headers: { 'x-request-id': 'big-1' },
      });
      assertError(big, 413, 'PAYLOAD_TOO_LARGE');
      assert.equal(big.body.requestId, 'big-1');
      const bad = await http(app.url, 'POST', '/_probe/echo', {
        rawBody: '{',
        headers: { 'x-request-id': 'bad-1' },
      });
      assertError(bad, 400, 'VALIDATION_FAILED');
      assert.equal(bad.body.requestId, 'bad-1');
    });

    it('replaces an invalid incoming id with a generated one', async () => {
      for (const invalid of ['r'.repeat(129), 'x'.repeat(200), 'has spaces in it', 'semi;colon', 'a/b']) {
        const res = await http(app.url, 'GET', '/nope', { headers: { 'x-request-id': invalid } });
        assertError(res, 404, 'NOT_FOUND');
        assert.notEqual(res.body.requestId, invalid);
        assert.match(res.body.requestId, UUID);
        const ok = await http(app.url, 'GET', '/health/live', { headers: { 'x-request-id': invalid } });
        assert.match(ok.headers.get('x-request-id') ?? '', UUID);
      }
    });

    it('generates a fresh id per request when none is sent', async () => {
      const a = await http(app.url, 'GET', '/nope');
      const b = await http(app.url, 'GET', '/nope');
      assert.match(a.body.requestId, UUID);
      assert.match(b.body.requestId, UUID);
      assert.notEqual(a.body.requestId, b.body.requestId);
    });
  });
});
