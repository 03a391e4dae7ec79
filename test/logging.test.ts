import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Body, Controller, Get, Logger, Module, Post } from '@nestjs/common';
import { IsString } from 'class-validator';
import { CurrentUser } from '../src/auth/auth.guard';
import type { AuthUser } from '../src/auth/token-verifier';
import { connectSocket, http, testWorld, token, type TestApp } from './support/app';

class NoteDto {
  @IsString()
  text!: string;
}

@Controller('_probe')
class LogProbeController {
  private readonly logger = new Logger('LogProbe');

  @Get('me')
  me(@CurrentUser() user: AuthUser) {
    this.logger.log(`probe handled for ${user.id}`);
    return { id: user.id };
  }

  @Post('note')
  note(@Body() body: NoteDto) {
    this.logger.log('note received');
    return { length: body.text.length };
  }

  @Get('boom')
  boom(): never {
    throw new Error('probe failure');
  }
}

@Module({ controllers: [LogProbeController] })
class LogProbeModule {}

/** Lets pino flush what the last responses wrote. */
const settle = () => new Promise((r) => setTimeout(r, 100));

describe('JSON logs', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld();
    app = await world.start({ LOG_LEVEL: 'info' }, [LogProbeModule]);
  });
  after(() => world.close());

  it('are one JSON object per line', async () => {
    await http(app.url, 'GET', '/_probe/me', { token: await token('alice') });
    await settle();
    assert.ok(app.logs.raw.length > 0);
    assert.equal(app.logs.lines.length, app.logs.raw.length, 'every line parses as JSON');
  });

  it('carry the request id on every line of the request, and never the bearer token', async () => {
    const tok = await token('alice');
    const signature = tok.split('.')[2]!;
    const from = app.logs.raw.length;
    const res = await http(app.url, 'GET', '/_probe/me', {
      token: tok,
      headers: { 'x-request-id': 'abc-123' },
    });
    assert.equal(res.status, 200);
    await settle();
    const mine = app.logs.lines.filter((l) => l.requestId === 'abc-123');
    const messages = mine.map((l) => String(l.msg));
    assert.ok(
      messages.some((m) => m === 'probe handled for alice'),
      `the handler's own line carries the id: ${JSON.stringify(mine)}`,
    );
    assert.ok(
      messages.some((m) => /request completed/.test(m)),
      `the access line carries the id: ${JSON.stringify(mine)}`,
    );
    // Every line this request produced (only this request ran meanwhile) carries its id.
    const related = app.logs.raw.slice(from);
    assert.ok(related.length >= 2);
    for (const line of related)
      assert.equal((JSON.parse(line) as { requestId?: unknown }).requestId, 'abc-123');
    const all = app.logs.raw.join('\n');
    assert.ok(!all.includes(tok), 'the token is in the logs');
    assert.ok(!all.includes(signature), "the token's signature is in the logs");
    assert.ok(!all.includes(tok.split('.')[1]!), "the token's payload is in the logs");
  });

  it('never log a refused token either (401), nor a malformed Authorization header', async () => {
    const expired = await token('mallory', { ttlS: -60 });
    const odd = 'Bearer sup3r-s3cret-opaque-credential-value';
    const r1 = await http(app.url, 'GET', '/_probe/me', {
      token: expired,
      headers: { 'x-request-id': 'abc-401' },
    });
    assert.equal(r1.status, 401);
    const r2 = await http(app.url, 'GET', '/_probe/me', { headers: { authorization: odd } });
    assert.equal(r2.status, 401);
    await settle();
    assert.ok(
      app.logs.lines.some((l) => l.requestId === 'abc-401'),
      'the refused request was logged with its id',
    );
    const all = app.logs.raw.join('\n');
    assert.ok(!all.includes(expired.split('.')[2]!), 'the refused token is in the logs');
    assert.ok(
      !all.includes('sup3r-s3cret-opaque-credential-value'),
      'the authorization header is in the logs',
    );
  });

  it('never contain a request body (message text)', async () => {
    const text = 'DISTINCTIVE-message-text-7f3a91 do not log me';
    const res = await http(app.url, 'POST', '/_probe/note', {
      token: await token('alice'),
      body: { text },
      headers: { 'x-request-id': 'abc-body' },
    });
    assert.equal(res.status, 201);
    // A refused body (validation failure) must not be logged either.
    const bad = await http(app.url, 'POST', '/_probe/note', {
      token: await token('alice'),
      body: { text, unknownField: 'DISTINCTIVE-unknown-field-value-55e1' },
    });
    assert.equal(bad.status, 400);
    await settle();
    assert.ok(app.logs.lines.some((l) => l.requestId === 'abc-body' && l.msg === 'note received'));
    const all = app.logs.raw.join('\n');
    assert.ok(!all.includes('DISTINCTIVE-message-text-7f3a91'), 'the message text is in the logs');
    assert.ok(!all.includes('DISTINCTIVE-unknown-field-value-55e1'), 'the refused body is in the logs');
  });

  it('log an unhandled error with the request id', async () => {
    const res = await http(app.url, 'GET', '/_probe/boom', {
      token: await token('alice'),
      headers: { 'x-request-id': 'abc-500' },
    });
    assert.equal(res.status, 500);
    await settle();
    const mine = app.logs.lines.filter((l) => l.requestId === 'abc-500');
    assert.ok(
      mine.some((l) => l.msg === 'unhandled error' && l.level === 50),
      `the error line carries the id: ${JSON.stringify(mine)}`,
    );
  });

  it('never log the socket handshake token', async () => {
    const tok = await token('dave');
    const socket = await connectSocket(app.url, tok);
    assert.equal(socket.connected, true);
    socket.close();
    await assert.rejects(connectSocket(app.url, `${tok}tampered`));
    await settle();
    const all = app.logs.raw.join('\n');
    assert.ok(!all.includes(tok.split('.')[2]!), 'the socket token is in the logs');
  });
});
