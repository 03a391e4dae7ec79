// helmet headers on every answer, and CORS for REST and for Socket.IO's HTTP transport from
// CORS_ORIGINS: an allowed origin is echoed, any other gets no Access-Control-Allow-Origin.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, testWorld, token, type TestApp } from './support/app';

const ALLOWED = 'https://app.example.com';
const EVIL = 'https://evil.example.net';

describe('security headers and configured origins', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld();
    app = await world.start({ CORS_ORIGINS: `${ALLOWED}, https://admin.example.com` });
  });
  after(() => world.close());

  it('helmet headers on success, error and health answers; no x-powered-by', async () => {
    for (const res of [
      await http(app.url, 'GET', '/conversations', { token: await token('alice') }),
      await http(app.url, 'GET', '/conversations'),
      await http(app.url, 'GET', '/health/live'),
      await http(app.url, 'GET', '/no-such-route'),
    ]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
      assert.match(res.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(res.headers.get('x-powered-by'), null);
    }
  });

  it('REST CORS: a configured origin is allowed (preflight and request), another is not', async () => {
    const preflight = (origin: string) =>
      fetch(`${app.url}/conversations`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
    const ok = await preflight(ALLOWED);
    assert.equal(ok.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    const evil = await preflight(EVIL);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    const real = await http(app.url, 'GET', '/conversations', {
      token: await token('alice'),
      headers: { origin: ALLOWED },
    });
    assert.equal(real.headers.get('access-control-allow-origin'), ALLOWED);
    assert.match(real.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
    const refused = await http(app.url, 'GET', '/conversations', {
      token: await token('alice'),
      headers: { origin: EVIL },
    });
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });

  it('Socket.IO CORS (HTTP long-polling handshake): the same origins', async () => {
    const handshake = (origin: string) =>
      fetch(`${app.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
    const ok = await handshake(ALLOWED);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), ALLOWED);
    const evil = await handshake(EVIL);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
  });
});
