// The SDK's check for deletes made while away (after a reconnect) against the live events of deletes
// made meanwhile. Real service, real PostgreSQL and Redis; only the client's network is shaped (a
// custom `fetch`, a delayed socket event), as a slow fan-out would shape it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChatClient, type ChatClientOptions, type Message } from '../client/src';
import { testWorld, token, type TestApp } from './support/app';
import { sleep, until } from './support/processes';

interface Device {
  client: ChatClient;
  messages: Message[];
  deleted: { conversationId: string; messageId: string; seq: number }[];
  synced: number;
}

const devices: Device[] = [];

async function device(
  baseUrl: string,
  userId: string,
  opts: Partial<ChatClientOptions> = {},
): Promise<Device> {
  const client = new ChatClient({
    baseUrl,
    token: await token(userId),
    retryMs: 50,
    socket: { reconnectionDelay: 50, reconnectionDelayMax: 200 },
    presenceSnapshot: false,
    ...opts,
  });
  const d: Device = { client, messages: [], deleted: [], synced: 0 };
  client.on('message', (m) => d.messages.push(m));
  client.on('message:deleted', (p) => d.deleted.push(p));
  client.on('synced', () => d.synced++);
  devices.push(d);
  const synced = new Promise((resolve) => client.on('synced', resolve));
  client.connect();
  await synced;
  return d;
}

/** Cuts the device's connection and keeps it away until `back()` (which waits for the next `synced`). */
async function goAway(d: Device): Promise<() => Promise<void>> {
  const manager = d.client.socket.io;
  manager.reconnection(false);
  manager.engine.close();
  await until(() => !d.client.socket.connected, 'disconnected');
  return async () => {
    const before = d.synced;
    manager.reconnection(true);
    d.client.socket.connect();
    await until(() => d.synced > before, 'synced again');
  };
}

/**
 * The check `reportMissedDeletes` makes: the conversation's last DELETE_CHECK_PAGE (50) delivered
 * messages, through the `after=` listing (the catch-up asks for 100).
 */
const isDeleteCheck = (request: Request, conv: string) => {
  const url = new URL(request.url);
  return (
    request.method === 'GET' &&
    url.pathname === `/conversations/${conv}/messages` &&
    url.searchParams.has('after') &&
    url.searchParams.get('limit') === '50'
  );
};

after(() => {
  for (const d of devices) d.client.close();
});

describe('client SDK: deletes told after a reconnect, and their live events', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;

  before(async () => {
    world = await testWorld({ redis: true });
    app = await world.start();
  });
  after(async () => {
    await world.close();
  });

  it('a delete made while the reconnect check runs is told once, not by the check and again by its live event', async () => {
    const tag = crypto.randomUUID().slice(0, 6);
    const [aliceId, bobId] = [`rl-dup-alice.${tag}`, `rl-dup-bob.${tag}`];
    let conv = '';
    // Filled in below; bob's fetch (made before them) reads them.
    const later: { alice?: Device; second?: Message } = {};
    let armed = false;
    // bob's network: while his reconnect check's request is on its way, alice deletes `second`
    // (committed before the check reads, so the check's page shows its tombstone).
    const bobFetch = async (request: Request) => {
      if (armed && isDeleteCheck(request, conv)) {
        armed = false;
        await later.alice!.client.deleteMessage(conv, later.second!.id);
      }
      return fetch(request);
    };
    const alice = await device(app.url, aliceId);
    later.alice = alice;
    const bob = await device(app.url, bobId, { fetch: bobFetch });
    conv = (await alice.client.direct(bobId)).id;
    const first = await alice.client.send(conv, 'first').sent;
    const second = await alice.client.send(conv, 'second').sent;
    later.second = second;
    await until(() => bob.messages.length === 2, 'bob has both');

    const back = await goAway(bob);
    await alice.client.deleteMessage(conv, first.id); // while bob is away: lastDeletedAt moves
    // The live `message:deleted` of the delete made during the check reaches bob a little after the
    // check's REST answer (the fan-out is a separate path: another instance, Redis, a busy event loop;
    // nothing orders a socket event after a REST answer).
    const socket = bob.client.socket as unknown as { onevent(packet: { data: unknown[] }): void };
    const onevent = socket.onevent.bind(socket);
    socket.onevent = (packet) => {
      if (packet.data?.[0] === 'message:deleted') setTimeout(() => onevent(packet), 300);
      else onevent(packet);
    };
    armed = true;
    await back();
    await sleep(800);

    assert.equal(armed, false, 'the check ran');
    const told = bob.deleted.map((p) => p.messageId);
    assert.equal(told.filter((id) => id === first.id).length, 1, 'the delete made while away is told');
    assert.equal(
      told.filter((id) => id === second.id).length,
      1,
      `message:deleted for one message told ${told.filter((id) => id === second.id).length} times (client/README.md: "It does not tell again a deletion already told")`,
    );
  });
});
