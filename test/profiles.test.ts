// Profiles (CONTRACT §6) against the real app: a real HTTP profile service (a tiny node:http server
// in this file, the only thing faked) is called in batches, its answers are cached (in process, or in
// Redis), and a slow or failing profile service never fails a list.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import { http, TEST_REDIS_URL, testWorld, token, type TestApp } from './support/app';

/** The fake profile service: records every call; its behaviour is switchable. */
class ProfileServer {
  readonly calls: string[][] = [];
  mode: 'ok' | 'slow' | 'error' | 'partial' = 'ok';
  slowMs = 1500;
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/profiles/batch') {
          res.writeHead(404).end();
          return;
        }
        const { ids } = JSON.parse(raw) as { ids: string[] };
        this.calls.push(ids);
        const answer = () => {
          if (this.mode === 'error') {
            res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
            return;
          }
          const known = this.mode === 'partial' ? ids.filter((id) => !id.endsWith('ghost')) : ids;
          const profiles = known.map((id) => ({
            id,
            kind: 'user',
            displayName: `Name of ${id}`,
            avatarUrl: `https://img.example/${id}.png`,
          }));
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ profiles }));
        };
        if (this.mode === 'slow') setTimeout(answer, this.slowMs);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(mode: ProfileServer['mode'] = 'ok'): void {
    this.calls.length = 0;
    this.mode = mode;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function as(user: string) {
  return token(user);
}

describe('profiles', () => {
  const profiles = new ProfileServer();
  before(() => profiles.start());
  after(() => profiles.stop());

  /** `me` with `n` direct conversations (peers `<prefix>0..n-1`), made through `app`. */
  async function seed(app: TestApp, me: string, prefix: string, n: number): Promise<string[]> {
    const t = await as(me);
    const peers = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    for (const peer of peers) {
      const res = await http(app.url, 'POST', '/conversations', {
        token: t,
        body: { type: 'direct', participantIds: [peer] },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      await http(app.url, 'POST', `/conversations/${res.body.id}/messages`, {
        token: t,
        body: { clientMessageId: randomUUID(), content: { text: 'hi' } },
      });
    }
    return peers;
  }

  const list = async (app: TestApp, me: string, query = '?limit=100') => {
    const res = await http(app.url, 'GET', `/conversations${query}`, { token: await as(me) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.items as any[];
  };

  describe('in-process cache', () => {
    let world: Awaited<ReturnType<typeof testWorld>>;
    const env = () => ({
      PROFILE_SERVICE_URL: profiles.url,
      PROFILE_TIMEOUT_MS: '200',
      PROFILE_CACHE_TTL_S: '300',
      REST_RATE_LIMIT: '1000000',
      RETENTION_SWEEP_S: '0',
    });
    before(async () => {
      world = await testWorld();
    });
    after(() => world.close());

    it('a chat list of 12 conversations makes one batched call; a second one within the TTL makes none', async () => {
      const setup = await world.start(env());
      const peers = await seed(setup, 'batch.me', 'batch.p', 12);
      // A fresh instance: an empty cache.
      const app = await world.start(env());
      profiles.reset();
      const items = await list(app, 'batch.me');
      assert.equal(items.length, 12);
      assert.equal(profiles.calls.length, 1, JSON.stringify(profiles.calls));
      assert.deepEqual([...profiles.calls[0]!].sort(), ['batch.me', ...peers].sort(), 'each id once');
      for (const c of items)
        for (const p of c.participants)
          assert.deepEqual(p.profile, {
            displayName: `Name of ${p.userId}`,
            avatarUrl: `https://img.example/${p.userId}.png`,
          });
      await list(app, 'batch.me');
      await list(app, 'batch.me', '?limit=5');
      const one = await http(app.url, 'GET', `/conversations/${items[0].id}`, {
        token: await as('batch.me'),
      });
      assert.equal(one.body.participants[0].profile.displayName.startsWith('Name of'), true);
      assert.equal(profiles.calls.length, 1, 'served from the cache');
    });

    it('asks again once the TTL has passed', async () => {
      const app = await world.start({ ...env(), PROFILE_CACHE_TTL_S: '1' });
      await seed(app, 'ttl.me', 'ttl.p', 2);
      profiles.reset();
      await list(app, 'ttl.me');
      assert.equal(profiles.calls.length, 0, 'cached by the creations');
      await new Promise((r) => setTimeout(r, 1100));
      await list(app, 'ttl.me');
      assert.equal(profiles.calls.length, 1);
    });

    it('a slow profile service: the list loads in time with profile null, and nothing is cached', async () => {
      const setup = await world.start(env());
      await seed(setup, 'slow.me', 'slow.p', 3);
      const app = await world.start(env());
      profiles.reset('slow');
      const started = Date.now();
      const items = await list(app, 'slow.me');
      const took = Date.now() - started;
      assert.ok(took < profiles.slowMs, `took ${took} ms`);
      assert.equal(items.length, 3);
      for (const c of items) for (const p of c.participants) assert.equal(p.profile, null);
      assert.equal(profiles.calls.length, 2, 'one timed-out attempt and one retry');
      // Back to normal: the failure was not cached.
      profiles.reset('ok');
      const again = await list(app, 'slow.me');
      assert.equal(profiles.calls.length, 1);
      for (const c of again)
        for (const p of c.participants) assert.equal(p.profile.displayName, `Name of ${p.userId}`);
    });

    it('a failing profile service (500): the list loads with profile null', async () => {
      const setup = await world.start(env());
      await seed(setup, 'err.me', 'err.p', 2);
      const app = await world.start(env());
      profiles.reset('error');
      const items = await list(app, 'err.me');
      assert.equal(items.length, 2);
      for (const c of items) for (const p of c.participants) assert.equal(p.profile, null);
      const one = await http(app.url, 'GET', `/conversations/${items[0].id}`, { token: await as('err.me') });
      assert.equal(one.status, 200);
      assert.equal(one.body.participants[0].profile, null);
      profiles.reset('ok');
    });

    it('an id the profile service does not know gets profile null, the others theirs', async () => {
      const app = await world.start(env());
      profiles.reset('partial');
      const res = await http(app.url, 'POST', '/conversations', {
        token: await as('part.me'),
        body: { type: 'direct', participantIds: ['part.ghost'] },
      });
      assert.equal(res.status, 201);
      const byId = Object.fromEntries(res.body.participants.map((p: any) => [p.userId, p.profile]));
      assert.equal(byId['part.ghost'], null);
      assert.equal(byId['part.me'].displayName, 'Name of part.me');
      profiles.reset('ok');
    });

    it('an unreachable profile service: profile null, no error', async () => {
      const app = await world.start({ ...env(), PROFILE_SERVICE_URL: 'http://127.0.0.1:9' });
      const res = await http(app.url, 'POST', '/conversations', {
        token: await as('down.me'),
        body: { type: 'direct', participantIds: ['down.p'] },
      });
      assert.equal(res.status, 201);
      for (const p of res.body.participants) assert.equal(p.profile, null);
    });

    it('without PROFILE_SERVICE_URL the built-in mock answers every id', async () => {
      const app = await world.start({ REST_RATE_LIMIT: '1000000', RETENTION_SWEEP_S: '0' });
      profiles.reset();
      const res = await http(app.url, 'POST', '/conversations', {
        token: await as('alice.smith'),
        body: { type: 'direct', participantIds: ['bob_jones-2'] },
      });
      assert.equal(res.status, 201);
      const byId = Object.fromEntries(res.body.participants.map((p: any) => [p.userId, p.profile]));
      assert.deepEqual(byId['alice.smith'], { displayName: 'Alice Smith', avatarUrl: null });
      assert.equal(typeof byId['bob_jones-2'].displayName, 'string');
      assert.ok(byId['bob_jones-2'].displayName.length > 0);
      assert.equal(profiles.calls.length, 0, 'the external service is not called');
    });
  });

  describe('Redis cache', () => {
    let world: Awaited<ReturnType<typeof testWorld>>;
    let redis: Redis;
    const env = () => ({
      PROFILE_SERVICE_URL: profiles.url,
      PROFILE_TIMEOUT_MS: '200',
      PROFILE_CACHE_TTL_S: '300',
      REST_RATE_LIMIT: '1000000',
      RETENTION_SWEEP_S: '0',
    });
    before(async () => {
      world = await testWorld({ redis: true });
      redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
    });
    after(async () => {
      const keys = await redis.keys(`${world.redisPrefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await world.close();
    });

    it('caches under <prefix>kv:profile:<id> with the TTL, shared by every instance', async () => {
      const one = await world.start(env());
      profiles.reset();
      const peers = await seed(one, 'redis.me', 'redis.p', 4);
      assert.ok(profiles.calls.length >= 1);
      for (const id of ['redis.me', ...peers]) {
        const key = `${world.redisPrefix}kv:profile:${id}`;
        const value = await redis.get(key);
        assert.ok(value, `${key} exists`);
        assert.deepEqual(JSON.parse(value), {
          displayName: `Name of ${id}`,
          avatarUrl: `https://img.example/${id}.png`,
        });
        const ttl = await redis.ttl(key);
        assert.ok(ttl > 0 && ttl <= 300, `ttl ${ttl}`);
      }
      // Another instance (its own process memory) finds everything in Redis: no call.
      const two = await world.start(env());
      profiles.reset();
      const items = await list(two, 'redis.me');
      assert.equal(items.length, 4);
      assert.equal(profiles.calls.length, 0, JSON.stringify(profiles.calls));
      for (const c of items)
        for (const p of c.participants) assert.equal(p.profile.displayName, `Name of ${p.userId}`);
      // Once evicted from Redis, the next list asks again, for that id only.
      await redis.del(`${world.redisPrefix}kv:profile:${peers[0]}`);
      await list(two, 'redis.me');
      assert.deepEqual(profiles.calls, [[peers[0]]]);
    });
  });
});
