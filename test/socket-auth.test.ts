import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { DEV_JWT_SECRET } from '../src/config/env';
import { connectSocket, emitAck, nextEvent, testWorld, token, type TestApp } from './support/app';

/** Connects and returns the connect_error the server refused the handshake with. */
async function refusedConnect(url: string, tokenValue: string | undefined): Promise<any> {
  try {
    const socket = await connectSocket(url, tokenValue);
    socket.close();
  } catch (err) {
    return err;
  }
  assert.fail('the connection was accepted');
}

function assertUnauthenticated(err: any): void {
  assert.ok(err instanceof Error, `expected a connect_error, got ${String(err)}`);
  const data = (err as Error & { data?: { code?: unknown; message?: unknown } }).data;
  assert.equal(data?.code, 'UNAUTHENTICATED', `connect_error data: ${JSON.stringify(data)}`);
  assert.equal(typeof data.message, 'string');
}

describe('Socket.IO handshake authentication', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  const open: Socket[] = [];
  before(async () => {
    world = await testWorld();
    app = await world.start();
  });
  after(async () => {
    for (const s of open) s.close();
    await world.close();
  });

  it("Socket.IO's own HTTP answers carry x-request-id too (CONTRACT §0: every response)", async () => {
    const echoed = await fetch(`${app.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { 'x-request-id': 'sio-handshake.1' },
    });
    assert.equal(echoed.status, 200, await echoed.text());
    assert.equal(echoed.headers.get('x-request-id'), 'sio-handshake.1');
    const made = await fetch(`${app.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { 'x-request-id': 'not valid!' },
    });
    await made.text();
    assert.match(made.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    // Engine.IO's refusals (an unknown transport, an unknown session) and a CORS preflight too.
    for (const [method, query] of [
      ['GET', 'EIO=4&transport=bogus'],
      ['GET', 'EIO=4&transport=polling&sid=nope'],
      ['OPTIONS', 'EIO=4&transport=polling'],
    ] as const) {
      const res = await fetch(`${app.url}/socket.io/?${query}`, {
        method,
        headers: { 'x-request-id': 'sio-refused.1', origin: 'http://example.test' },
      });
      await res.text();
      assert.equal(res.headers.get('x-request-id'), 'sio-refused.1', `${method} ${query}: ${res.status}`);
    }
  });

  it('refuses a connection without a token', async () => {
    const err = await refusedConnect(app.url, undefined);
    assertUnauthenticated(err);
    assert.match(err.data.message, /missing/i);
  });

  it('refuses a non-string token', async () => {
    const socket = connectSocket(app.url, undefined, { auth: { token: 12345 } });
    assertUnauthenticated(
      await socket.then(
        (s) => {
          s.close();
          assert.fail('the connection was accepted');
        },
        (err: unknown) => err,
      ),
    );
  });

  it('refuses a malformed token', async () => {
    assertUnauthenticated(await refusedConnect(app.url, 'not-a-jwt'));
  });

  it('refuses a token with a bad signature', async () => {
    assertUnauthenticated(
      await refusedConnect(app.url, await token('alice', { secret: 'some-other-secret' })),
    );
  });

  it('refuses an expired token', async () => {
    const err = await refusedConnect(app.url, await token('alice', { ttlS: -5 }));
    assertUnauthenticated(err);
    assert.match(err.data.message, /expired/i);
  });

  it('refuses a token without exp', async () => {
    const noExp = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .sign(createSecretKey(Buffer.from(DEV_JWT_SECRET)));
    assertUnauthenticated(await refusedConnect(app.url, noExp));
  });

  it('accepts a valid token; presence:heartbeat acks { ok: true, data: {} }', async () => {
    const socket = await connectSocket(app.url, await token('alice'));
    open.push(socket);
    assert.equal(socket.connected, true);
    assert.deepEqual(await emitAck(socket, 'presence:heartbeat', {}), { ok: true, data: {} });
  });

  it('disconnects a socket when its token expires: session:end token_expired, then io server disconnect', async () => {
    const long = await connectSocket(app.url, await token('bob'));
    open.push(long);
    const short = await connectSocket(app.url, await token('alice', { ttlS: 2 }));
    open.push(short);
    const order: string[] = [];
    short.once('session:end', () => order.push('session:end'));
    const sessionEnd = nextEvent(short, 'session:end', 5000);
    const disconnected = new Promise<string>((resolve) =>
      short.once('disconnect', (reason) => {
        order.push('disconnect');
        resolve(reason);
      }),
    );
    assert.deepEqual(await sessionEnd, { reason: 'token_expired' });
    assert.equal(await disconnected, 'io server disconnect');
    assert.deepEqual(order, ['session:end', 'disconnect']);
    // The expiry of one connection leaves the others alone.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(long.connected, true);
  });

  it('a socket whose token is still valid is not disconnected early', async () => {
    const socket = await connectSocket(app.url, await token('carol', { ttlS: 4 }));
    open.push(socket);
    let ended = false;
    socket.once('session:end', () => (ended = true));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(ended, false);
    assert.equal(socket.connected, true);
  });
});
