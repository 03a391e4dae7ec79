// Redis Sentinel and Redis Cluster (REDIS_SENTINELS / REDIS_CLUSTER), against real servers started
// here: two instances share state through them (cross-instance fan-out, a shared rate limit, no
// fallback to process memory), and with Sentinel the master is killed: the sentinel promotes the
// replica and the instances follow it by themselves.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Redis from 'ioredis';
import type { Socket } from 'socket.io-client';
import { connectSocket, directPair, emitAck, http, testWorld, token, type TestApp } from './support/app';
import { freeFixedPort, freePort, RedisServer, until } from './support/processes';

const dir = mkdtempSync(path.join(tmpdir(), 'chat-redis-topo-'));
const servers: RedisServer[] = [];
const children: ChildProcess[] = [];
const clients: Redis[] = [];
const sockets: Socket[] = [];

after(async () => {
  for (const s of sockets) s.close();
  for (const c of clients) c.disconnect();
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const direct = (url: string) => {
  const c = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
};
const readiness = async (app: TestApp) => (await http(app.url, 'GET', '/health/ready')).body;

/** Alice on A and bob on B in one conversation; resolves with the conversation and both sockets. */
async function pair(A: TestApp, B: TestApp) {
  const { alice, bob, conv } = await directPair(A.url);
  const a = await connectSocket(A.url, await token(alice));
  const b = await connectSocket(B.url, await token(bob));
  sockets.push(a, b);
  const onB: number[] = [];
  b.on('message:new', (m: { seq: number }) => onB.push(m.seq));
  return { id: conv, alice, a, b, onB };
}
const send = (s: Socket, conversationId: string) =>
  emitAck(s, 'message:send', { conversationId, clientMessageId: randomUUID(), content: { text: 'hi' } });

function noFallback(apps: TestApp[]): void {
  for (const app of apps)
    assert.ok(
      !app.logs.raw.some((l) => l.includes('using in-process state')),
      'an instance fell back to process memory',
    );
}

describe('Redis Sentinel (REDIS_SENTINELS)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let master: RedisServer;
  let replica: RedisServer;
  let sentinelPort: number;
  let A: TestApp;
  let B: TestApp;

  before(async () => {
    master = await RedisServer.start();
    servers.push(master);
    replica = await RedisServer.start(() => ['--replicaof', '127.0.0.1', String(master.port)]);
    servers.push(replica);
    sentinelPort = await freePort();
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor chatm 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds chatm 1000',
        'sentinel failover-timeout chatm 5000',
        '',
      ].join('\n'),
    );
    children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    const sentinel = direct(`redis://127.0.0.1:${sentinelPort}`);
    await until(async () => {
      const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', 'chatm').catch(() => [])) as unknown[];
      return replicas.length === 1;
    }, 'the sentinel to know the master and its replica');
    world = await testWorld({ redis: true });
    const env = {
      // The host of REDIS_URL is ignored with sentinels (nothing listens on port 1): only the sentinel is asked.
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_NAME: 'chatm',
    };
    [A, B] = await Promise.all([world.start(env), world.start(env)]);
  });
  after(() => world?.close());

  it('finds the master through the sentinel and shares state through it', async () => {
    for (const app of [A, B]) {
      const r = await readiness(app);
      assert.equal(r.details.redis.status, 'up', JSON.stringify(r));
      assert.equal(r.details.redis.mode, 'redis');
    }
    const { id, a, onB } = await pair(A, B);
    const sent = await send(a, id);
    assert.equal(sent.ok, true, JSON.stringify(sent));
    await until(() => onB.includes(sent.data.seq), 'delivery on the other instance');
    const keys = await direct(master.url).keys(`${world.redisPrefix}*`);
    assert.ok(keys.length > 0, 'no state in the master');
    noFallback([A, B]);
  });

  it('follows a failover: master killed, replica promoted, the instances recover by themselves', async () => {
    const sentinel = direct(`redis://127.0.0.1:${sentinelPort}`);
    await master.stop();
    await until(
      async () => {
        const addr = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'chatm')) as string[];
        return Number(addr[1]) === replica.port;
      },
      'the sentinel to promote the replica',
      30_000,
    );
    await until(
      async () =>
        (await readiness(A)).details?.redis?.status === 'up' &&
        (await readiness(B)).details?.redis?.status === 'up',
      'both instances back on Redis',
      30_000,
    );
    const { id, a, onB } = await pair(A, B);
    await until(
      async () => {
        const sent = await send(a, id);
        assert.equal(sent.ok, true, JSON.stringify(sent));
        await new Promise((r) => setTimeout(r, 200));
        return onB.includes(sent.data.seq);
      },
      'cross-instance delivery through the new master',
      30_000,
    );
    const keys = await direct(replica.url).keys(`${world.redisPrefix}*`);
    assert.ok(keys.length > 0, 'no state in the promoted replica');
    const role = await direct(replica.url).call('ROLE');
    assert.equal((role as string[])[0], 'master');
  });
});

describe('Redis Cluster (REDIS_CLUSTER=true)', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let nodes: RedisServer[];
  let A: TestApp;
  let B: TestApp;

  before(async () => {
    // Every node that started is registered for the teardown, even when another did not start (a
    // running child keeps this file from ever ending). The bus port is chosen like the node's own.
    const started = await Promise.allSettled(
      [0, 1, 2].map(async () => {
        const bus = await freeFixedPort();
        return RedisServer.start((port) => [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(bus),
          '--cluster-config-file',
          path.join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
        ]);
      }),
    );
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    nodes = started.map((s) => (s as PromiseFulfilledResult<RedisServer>).value);
    const created = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(created.status, 0, created.stdout + created.stderr);
    await until(async () => {
      const infos = await Promise.all(
        nodes.map((n) => direct(n.url).call('CLUSTER', 'INFO') as Promise<string>),
      );
      return infos.every((i) => i.includes('cluster_state:ok'));
    }, 'the cluster to be ok');
    world = await testWorld({ redis: true });
    const env = {
      REDIS_URL: nodes[0]!.url,
      REDIS_CLUSTER: 'true',
      MESSAGE_RATE_LIMIT: '6',
      MESSAGE_RATE_WINDOW_S: '60',
    };
    [A, B] = await Promise.all([world.start(env), world.start(env)]);
  });
  after(() => world?.close());

  it('shares fan-out and rate limits through the cluster, keys in one slot, without falling back', async () => {
    for (const app of [A, B]) {
      const r = await readiness(app);
      assert.equal(r.details.redis.status, 'up', JSON.stringify(r));
      assert.equal(r.details.redis.mode, 'redis');
    }
    const { id, alice, a, onB } = await pair(A, B);
    const sent = await send(a, id);
    assert.equal(sent.ok, true, JSON.stringify(sent));
    await until(() => onB.includes(sent.data.seq), 'delivery on the other instance');
    // One sliding window for alice across both instances (limit 6): 1 sent above, 2 more on A, 3 on B,
    // and the 7th, on B, is refused.
    const aliceOnB = await connectSocket(B.url, await token(alice));
    sockets.push(aliceOnB);
    for (const s of [a, a, aliceOnB, aliceOnB, aliceOnB]) {
      const r = await send(s, id);
      assert.equal(r.ok, true, JSON.stringify(r));
    }
    const seventh = await send(aliceOnB, id);
    assert.equal(seventh.ok, false);
    assert.equal(seventh.error.code, 'RATE_LIMITED');
    // The state is in the cluster, all of it in the slot of the prefix's hash tag.
    const keys = (await Promise.all(nodes.map((n) => direct(n.url).keys(`{${world.redisPrefix}}*`)))).flat();
    assert.ok(keys.length > 0, 'no state in the cluster');
    const slots = new Set(
      await Promise.all(
        keys.map((k) => direct(nodes[0]!.url).call('CLUSTER', 'KEYSLOT', k) as Promise<number>),
      ),
    );
    assert.equal(slots.size, 1, 'the keys are spread over several slots');
    noFallback([A, B]);
  });
});
