// Business administration and bad input against the real app (CONTRACT §0, §2, §5):
// - the admin API: roles, validation of time zones, opening hours and capacities, default capacity,
//   unknown businesses and agents, and GET's queue length, loads and presence;
// - refused calls on business conversations (unknown business, a transfer target who is not an agent
//   of the business or is full, resolve/escalate/transfer by the wrong person, invalid hours, actions
//   on a non-business conversation) answer the contract's error and change nothing, checked through
//   the API before and after each call;
// - every status change tells the customers still in the queue their new `queuePosition` over the
//   socket (those behind included), and the customer and agents involved get `conversation:updated`;
// - the order of the queue when conversations that waited while closed are routed (at opening time,
//   after a re-opening while closed, when the hours change), and transfers to offline agents;
// - business conversations carry the business profile, in the chat list and in socket updates.
// The profile service is a tiny node:http server here (the only fake), so that business profiles are
// recognisable.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { Socket } from 'socket.io-client';
import { BusinessRepository } from '../src/business/business.repository';
import { Db } from '../src/database/db';
import { RoutingService } from '../src/business/routing.service';
import { connectSocket, http, testWorld, token, type TestApp } from './support/app';
import { assertError } from './support/errors';
import { until } from './support/processes';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const ALWAYS = DAYS.map((day) => ({ day, open: '00:00', close: '24:00' }));
/** 10:00 UTC, `d` days from today. */
function day(d: number): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + d, 10));
}
/** Opening hours of one hour, 10:00-11:00 UTC on the weekday `d` days from today (closed now). */
const hourOn = (d: number) => ({ day: DAYS[(day(d).getUTCDay() + 6) % 7]!, open: '10:00', close: '11:00' });

/** Businesses are the ids starting with `biz`; the profile service says so and names them `Shop …`. */
const businessProfile = (id: string) => ({
  displayName: `Shop ${id}`,
  avatarUrl: `https://img.example/shops/${id}.png`,
});
const userProfile = (id: string) => ({ displayName: `Person ${id}`, avatarUrl: null });

function startProfileService(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    req.on('end', () => {
      const { ids } = JSON.parse(raw) as { ids: string[] };
      const profiles = ids.map((id) =>
        id.startsWith('biz')
          ? { id, kind: 'business', ...businessProfile(id) }
          : { id, kind: 'user', ...userProfile(id) },
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ profiles }));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}

/** The contract's error: this status and code, and nothing in the body but the documented keys. */

/** How often a check that queries the app polls, not to load the machine it waits for. */
const POLL_APP_MS = 100;

interface User {
  id: string;
  token: string;
  socket?: Socket;
  /** Every `conversation:updated` this user's sockets received, in order. */
  updates: any[];
}

describe('business administration and bad input', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let profiles: { url: string; server: Server };
  let admin: string;
  const beats: NodeJS.Timeout[] = [];

  before(async () => {
    profiles = await startProfileService();
    world = await testWorld();
    // The sweep stays out of the way: nobody here is offline long enough to matter.
    app = await world.start({ PROFILE_SERVICE_URL: profiles.url, ROUTING_SWEEP_S: '0' });
    admin = await token('root', { admin: true });
  });
  after(async () => {
    for (const b of beats) clearInterval(b);
    await world.close();
    profiles.server.closeAllConnections();
    await new Promise((r) => profiles.server.close(r));
  });

  // ---- helpers ---------------------------------------------------------------------------------

  async function user(t: TestContext, id: string, online = false): Promise<User> {
    const u: User = { id, token: await token(id), updates: [] };
    if (online) await connect(t, u);
    return u;
  }

  /** Connects a socket that heartbeats well within the presence TTL; closed when the test ends. */
  async function connect(t: TestContext, u: User): Promise<void> {
    const socket = await connectSocket(app.url, u.token);
    socket.on('conversation:updated', (c) => u.updates.push(c));
    const beat = setInterval(() => socket.emit('presence:heartbeat', {}), 2_000);
    beats.push(beat);
    u.socket = socket;
    t.after(() => {
      clearInterval(beat);
      socket.close();
    });
  }

  const api = (method: string, path: string, who: User | string | null, body?: unknown) =>
    http(app.url, method, path, {
      token: who === null ? undefined : typeof who === 'string' ? who : who.token,
      body,
    });

  async function putBusiness(id: string, hours: unknown, timeZone = 'UTC'): Promise<any> {
    const res = await api('PUT', `/businesses/${id}`, admin, { timeZone, hours });
    assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
    return res.body;
  }

  async function putAgent(businessId: string, userId: string, capacity: number): Promise<any> {
    const res = await api('PUT', `/businesses/${businessId}/agents/${userId}`, admin, { capacity });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  async function businessView(id: string): Promise<any> {
    const res = await api('GET', `/businesses/${id}`, admin);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  const waitPresence = (businessId: string, userId: string, presence: 'online' | 'offline') =>
    until(
      async () =>
        (await businessView(businessId)).agents.find((a: any) => a.userId === userId)?.presence === presence,
      `${userId} ${presence}`,
      20_000,
      POLL_APP_MS,
    );

  async function open(customer: User, businessId: string): Promise<any> {
    const res = await api('POST', '/conversations', customer, { type: 'business', businessId });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }

  async function view(who: User, conversationId: string): Promise<any> {
    const res = await api('GET', `/conversations/${conversationId}`, who);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  /**
   * Waits for a `conversation:updated` of the conversation received after `since` whose business
   * part matches (`match` gets the whole conversation too).
   */
  const waitUpdate = (
    u: User,
    since: number,
    conversationId: string,
    match: (b: any, c: any) => boolean,
    what: string,
  ) =>
    until(
      () => u.updates.slice(since).find((c) => c.id === conversationId && c.business && match(c.business, c)),
      `${u.id}: conversation:updated ${what}`,
      15_000,
      10,
    );

  // ---- administration --------------------------------------------------------------------------

  it('only admins administer businesses: 401 without a token, 403 for anyone else, and nothing changes', async (t) => {
    const body = { timeZone: 'Europe/Berlin', hours: ALWAYS };
    const calls: [string, string, unknown?][] = [
      ['PUT', '/businesses/biz-roles', body],
      ['GET', '/businesses/biz-roles'],
      ['PUT', '/businesses/biz-roles/agents/roles.agent', { capacity: 1 }],
      ['DELETE', '/businesses/biz-roles/agents/roles.agent'],
    ];
    await putBusiness('biz-roles-other', ALWAYS);
    await putAgent('biz-roles-other', 'roles.agent', 2);
    const agentOfAnother = await user(t, 'roles.agent');
    const customer = await user(t, 'roles.customer');
    for (const [method, path, b] of calls) {
      assertError(await api(method, path, null, b), 401, 'UNAUTHENTICATED', `${method} ${path} anonymous`);
      for (const who of [customer, agentOfAnother])
        assertError(await api(method, path, who, b), 403, 'FORBIDDEN', `${method} ${path} as ${who.id}`);
    }
    // Nothing was created.
    assertError(await api('GET', '/businesses/biz-roles', admin), 404, 'NOT_FOUND', 'after refused PUT');

    // Nor changed, once it exists.
    await putBusiness('biz-roles', [{ day: 'mon', open: '09:00', close: '17:00' }], 'Asia/Tokyo');
    await putAgent('biz-roles', 'roles.agent', 3);
    const before = await businessView('biz-roles');
    for (const [method, path, b] of calls)
      for (const who of [customer, agentOfAnother])
        assertError(await api(method, path, who, b), 403, 'FORBIDDEN', `${method} ${path} as ${who.id}`);
    assert.deepEqual(await businessView('biz-roles'), before);
    assert.equal(before.timeZone, 'Asia/Tokyo');
    assert.deepEqual(before.agents, [{ userId: 'roles.agent', capacity: 3, load: 0, presence: 'offline' }]);
  });

  it('PUT creates (201) and replaces (200) a business; GET returns it', async () => {
    const hours = [
      { day: 'mon', open: '09:00', close: '12:00' },
      { day: 'mon', open: '13:00', close: '17:30' },
      { day: 'sat', open: '00:00', close: '24:00' },
      { day: 'sun', open: '22:00', close: '24:00' },
    ];
    const created = await api('PUT', '/businesses/biz-crud', admin, { timeZone: 'America/New_York', hours });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const expected = { id: 'biz-crud', timeZone: 'America/New_York', hours, queueLength: 0, agents: [] };
    assert.deepEqual(created.body, expected);
    assert.deepEqual(await businessView('biz-crud'), expected);

    const replaced = await api('PUT', '/businesses/biz-crud', admin, {
      timeZone: 'Europe/Berlin',
      hours: [],
    });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.deepEqual(await businessView('biz-crud'), { ...expected, timeZone: 'Europe/Berlin', hours: [] });

    // Up to 70 ranges (ten a day), back to back.
    const many = DAYS.flatMap((day) =>
      Array.from({ length: 10 }, (_, h) => ({
        day,
        open: `${String(h * 2).padStart(2, '0')}:00`,
        close: `${String(h * 2 + 1).padStart(2, '0')}:00`,
      })),
    );
    const full = await api('PUT', '/businesses/biz-crud', admin, { timeZone: 'UTC', hours: many });
    assert.equal(full.status, 200, JSON.stringify(full.body));
    assert.equal(full.body.hours.length, 70);
  });

  it('invalid time zones, hours, days, ids and unknown fields: 400 VALIDATION_FAILED, the business unchanged', async () => {
    const good = [{ day: 'tue', open: '08:00', close: '16:00' }];
    await putBusiness('biz-valid', good, 'Europe/Paris');
    await putAgent('biz-valid', 'valid.agent', 2);
    const before = await businessView('biz-valid');
    const range = (r: Record<string, unknown>) => ({ timeZone: 'UTC', hours: [{ ...good[0], ...r }] });
    // 71 ranges that would be valid but for their number.
    const tooMany = DAYS.flatMap((day) =>
      Array.from({ length: 11 }, (_, h) => ({
        day,
        open: `${String(h * 2).padStart(2, '0')}:00`,
        close: `${String(h * 2).padStart(2, '0')}:30`,
      })),
    ).slice(0, 71);
    const cases: [string, unknown, RegExp][] = [
      ['unknown zone', { timeZone: 'Mars/Olympus', hours: good }, /timeZone/],
      ['misspelt zone', { timeZone: 'Europe/Berlim', hours: good }, /timeZone/],
      ['an offset is no IANA zone', { timeZone: '+02:00', hours: good }, /timeZone/],
      ['empty zone', { timeZone: '', hours: good }, /timeZone/],
      ['zone not a string', { timeZone: 1, hours: good }, /timeZone/],
      ['zone missing', { hours: good }, /timeZone/],
      ['hours missing', { timeZone: 'UTC' }, /hours/],
      ['hours not an array', { timeZone: 'UTC', hours: { mon: '09:00-17:00' } }, /hours/],
      ['a range that is null', { timeZone: 'UTC', hours: [null] }, /hours/],
      ['a range that is a number', { timeZone: 'UTC', hours: [5] }, /hours/],
      ['unknown day', range({ day: 'monday' }), /day/],
      ['day in capitals', range({ day: 'Tue' }), /day/],
      ['holiday', range({ day: 'holiday' }), /day/],
      ['day missing', { timeZone: 'UTC', hours: [{ open: '08:00', close: '16:00' }] }, /day/],
      ['H:MM', range({ open: '8:00' }), /open/],
      ['minutes past 59', range({ open: '08:60' }), /open/],
      ['hour past 23', range({ open: '25:00', close: '26:00' }), /open/],
      ['opening at 24:00', range({ open: '24:00', close: '24:00' }), /open/],
      ['HHMM', range({ open: '0800' }), /open/],
      ['a word', range({ close: 'noon' }), /close/],
      ['a number', range({ open: 800 }), /open/],
      ['closing after 24:00', range({ close: '24:01' }), /close/],
      ['close missing', { timeZone: 'UTC', hours: [{ day: 'tue', open: '08:00' }] }, /close/],
      ['open = close', range({ open: '09:00', close: '09:00' }), /open must be before close/],
      ['open after close', range({ open: '17:00', close: '09:00' }), /open must be before close/],
      // A documented choice (hours.ts, the OpenAPI description): a night shift is two ranges.
      ['past midnight', range({ open: '22:00', close: '02:00' }), /crosses midnight/],
      [
        'overlapping ranges',
        {
          timeZone: 'UTC',
          hours: [
            { day: 'wed', open: '09:00', close: '12:00' },
            { day: 'wed', open: '11:59', close: '13:00' },
          ],
        },
        /overlap/,
      ],
      ['unknown field in a range', range({ note: 'lunch' }), /note/],
      ['unknown top-level field', { timeZone: 'UTC', hours: good, name: 'Shop' }, /name/],
      ['71 ranges', { timeZone: 'UTC', hours: tooMany }, /hours/],
    ];
    for (const [what, body, about] of cases) {
      const res = await api('PUT', '/businesses/biz-valid', admin, body);
      assertError(res, 400, 'VALIDATION_FAILED', what);
      assert.match(`${res.body.message} ${JSON.stringify(res.body.details ?? [])}`, about, what);
    }
    for (const raw of ['[]', 'null', '{"timeZone":', '"UTC"']) {
      const res = await http(app.url, 'PUT', '/businesses/biz-valid', { token: admin, rawBody: raw });
      assertError(res, 400, 'VALIDATION_FAILED', `body ${raw}`);
    }
    assert.deepEqual(await businessView('biz-valid'), before);

    // Ids that are not 1-64 characters from [A-Za-z0-9._:-] create nothing.
    for (const id of ['has%20space', 'x'.repeat(65), 'caf%C3%A9']) {
      assertError(
        await api('PUT', `/businesses/${id}`, admin, { timeZone: 'UTC', hours: good }),
        400,
        'VALIDATION_FAILED',
        id,
      );
      assertError(await api('GET', `/businesses/${id}`, admin), 400, 'VALIDATION_FAILED', id);
    }
  });

  it('agents: capacity 5 by default, 0-1000, unknown business or agent 404, removal', async () => {
    await putBusiness('biz-agents', ALWAYS);
    const byDefault = await api('PUT', '/businesses/biz-agents/agents/ag.default', admin);
    assert.equal(byDefault.status, 200, JSON.stringify(byDefault.body));
    assert.deepEqual(byDefault.body.agents, [
      { userId: 'ag.default', capacity: 5, load: 0, presence: 'offline' },
    ]);
    const empty = await api('PUT', '/businesses/biz-agents/agents/ag.empty', admin, {});
    assert.equal(empty.status, 200, JSON.stringify(empty.body));
    await putAgent('biz-agents', 'ag.max', 1000);
    await putAgent('biz-agents', 'ag.zero', 0);
    await putAgent('biz-agents', 'ag.two', 2);
    // Changing a capacity.
    await putAgent('biz-agents', 'ag.two', 3);
    const expected = [
      { userId: 'ag.default', capacity: 5, load: 0, presence: 'offline' },
      { userId: 'ag.empty', capacity: 5, load: 0, presence: 'offline' },
      { userId: 'ag.max', capacity: 1000, load: 0, presence: 'offline' },
      { userId: 'ag.two', capacity: 3, load: 0, presence: 'offline' },
      { userId: 'ag.zero', capacity: 0, load: 0, presence: 'offline' },
    ];
    const before = await businessView('biz-agents');
    assert.deepEqual(before.agents, expected);

    const bad: [string, unknown][] = [
      ['negative', { capacity: -1 }],
      ['above 1000', { capacity: 1001 }],
      ['fractional', { capacity: 2.5 }],
      ['a string', { capacity: '3' }],
      ['a boolean', { capacity: true }],
      ['unknown field', { capacity: 2, skills: ['billing'] }],
    ];
    for (const [what, body] of bad) {
      for (const who of ['ag.two', 'ag.new']) {
        const res = await api('PUT', `/businesses/biz-agents/agents/${who}`, admin, body);
        assertError(res, 400, 'VALIDATION_FAILED', `${what} (${who})`);
      }
    }
    for (const id of ['has%20space', 'y'.repeat(65)]) {
      assertError(
        await api('PUT', `/businesses/biz-agents/agents/${id}`, admin, {}),
        400,
        'VALIDATION_FAILED',
        id,
      );
      assertError(
        await api('DELETE', `/businesses/biz-agents/agents/${id}`, admin),
        400,
        'VALIDATION_FAILED',
        id,
      );
    }
    // An agent of no business here, and a business that does not exist.
    assertError(
      await api('DELETE', '/businesses/biz-agents/agents/ag.stranger', admin),
      404,
      'NOT_FOUND',
      'not an agent',
    );
    assertError(
      await api('PUT', '/businesses/biz-nope/agents/ag.two', admin, { capacity: 1 }),
      404,
      'NOT_FOUND',
      'put',
    );
    assertError(await api('DELETE', '/businesses/biz-nope/agents/ag.two', admin), 404, 'NOT_FOUND', 'delete');
    assertError(await api('GET', '/businesses/biz-nope', admin), 404, 'NOT_FOUND', 'get');
    assert.deepEqual(await businessView('biz-agents'), before);

    const removed = await api('DELETE', '/businesses/biz-agents/agents/ag.default', admin);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.deepEqual((await businessView('biz-agents')).agents, expected.slice(1));
    assertError(
      await api('DELETE', '/businesses/biz-agents/agents/ag.default', admin),
      404,
      'NOT_FOUND',
      'twice',
    );
  });

  it("GET shows the queue length and each agent's load and presence", async (t) => {
    await putBusiness('biz-view', ALWAYS);
    await putAgent('biz-view', 'view.a', 1);
    await putAgent('biz-view', 'view.b', 2);
    const a = await user(t, 'view.a', true);
    await waitPresence('biz-view', a.id, 'online');
    const customers = [await user(t, 'view.c1'), await user(t, 'view.c2'), await user(t, 'view.c3')];
    for (const c of customers) await open(c, 'biz-view');
    assert.deepEqual(await businessView('biz-view'), {
      id: 'biz-view',
      timeZone: 'UTC',
      hours: ALWAYS,
      queueLength: 2,
      agents: [
        { userId: 'view.a', capacity: 1, load: 1, presence: 'online' },
        { userId: 'view.b', capacity: 2, load: 0, presence: 'offline' },
      ],
    });

    // view.b comes online and takes both queued conversations.
    const b = await user(t, 'view.b', true);
    await until(
      async () => (await businessView('biz-view')).queueLength === 0,
      'queue drained',
      20_000,
      POLL_APP_MS,
    );
    assert.deepEqual((await businessView('biz-view')).agents, [
      { userId: 'view.a', capacity: 1, load: 1, presence: 'online' },
      { userId: 'view.b', capacity: 2, load: 2, presence: 'online' },
    ]);

    // view.a disconnects: offline, still holding their conversation within the grace period.
    a.socket!.close();
    await waitPresence('biz-view', a.id, 'offline');
    assert.deepEqual((await businessView('biz-view')).agents, [
      { userId: 'view.a', capacity: 1, load: 1, presence: 'offline' },
      { userId: 'view.b', capacity: 2, load: 2, presence: 'online' },
    ]);
    // A lower capacity is shown as is; the load is not cut (nobody is taken off a conversation).
    await putAgent('biz-view', b.id, 1);
    assert.deepEqual((await businessView('biz-view')).agents[1], {
      userId: 'view.b',
      capacity: 1,
      load: 2,
      presence: 'online',
    });
  });

  // ---- bad input on business conversations changes nothing --------------------------------------

  it('refused calls on business conversations get the contract error and change nothing', async (t) => {
    await putBusiness('biz-bad', ALWAYS, 'Europe/Berlin');
    await putAgent('biz-bad', 'bad.a', 1);
    await putAgent('biz-bad', 'bad.b', 1);
    await putBusiness('biz-bad-other', ALWAYS);
    await putAgent('biz-bad-other', 'bad.elsewhere', 5);
    const a = await user(t, 'bad.a', true);
    const b = await user(t, 'bad.b', true);
    const elsewhere = await user(t, 'bad.elsewhere');
    await waitPresence('biz-bad', a.id, 'online');
    await waitPresence('biz-bad', b.id, 'online');
    const customers = [
      await user(t, 'bad.c1'),
      await user(t, 'bad.c2'),
      await user(t, 'bad.c3'),
      await user(t, 'bad.c4'),
    ];
    const convs: any[] = [];
    for (const c of customers) convs.push(await open(c, 'biz-bad'));
    assert.deepEqual(
      convs.map((c) => [c.business.status, c.business.assignedAgentId, c.business.queuePosition]),
      [
        ['assigned', 'bad.a', null],
        ['assigned', 'bad.b', null],
        ['queued', null, 1],
        ['queued', null, 2],
      ],
    );
    const [c1, , c3] = customers as [User, User, User, User];
    const friend = await user(t, 'bad.friend');
    const newcomer = await user(t, 'bad.newcomer');
    const direct = await api('POST', '/conversations', c1, { type: 'direct', participantIds: [friend.id] });
    assert.equal(direct.status, 201, JSON.stringify(direct.body));
    const directId: string = direct.body.id;

    /** Everything a refused call could change, read through the API. */
    const snapshot = async () =>
      JSON.stringify({
        business: await businessView('biz-bad'),
        other: await businessView('biz-bad-other'),
        conversations: await Promise.all(convs.map((c, i) => view(customers[i]!, c.id))),
        lists: await Promise.all(
          [a, b, newcomer, friend].map(async (u) => (await api('GET', '/conversations', u)).body),
        ),
        direct: await view(friend, directId),
      });
    const before = await snapshot();
    const refuse = async (
      what: string,
      method: string,
      path: string,
      who: User | string,
      status: number,
      code: string,
      body?: unknown,
    ) => {
      assertError(await api(method, path, who, body), status, code, what);
      assert.equal(await snapshot(), before, `${what} changed something`);
    };
    const [id1, id2, id3] = convs.map((c) => c.id as string);

    // Unknown business.
    await refuse('open with an unknown business', 'POST', '/conversations', newcomer, 404, 'NOT_FOUND', {
      type: 'business',
      businessId: 'biz-nope',
    });
    await refuse(
      'open with a malformed business id',
      'POST',
      '/conversations',
      newcomer,
      400,
      'VALIDATION_FAILED',
      {
        type: 'business',
        businessId: 'no such shop',
      },
    );
    // Transfers: to someone who is not an agent of this business, to a full agent, by the wrong people.
    for (const [by, agentId] of [
      [admin, 'bad.stranger'],
      [a, 'bad.elsewhere'],
      [a, 'bad.c2'],
    ] as const)
      await refuse(
        `transfer to ${agentId}`,
        'POST',
        `/conversations/${id1}/transfer`,
        by,
        400,
        'VALIDATION_FAILED',
        {
          agentId,
        },
      );
    for (const by of [admin, a])
      await refuse(
        'transfer to a full agent',
        'POST',
        `/conversations/${id1}/transfer`,
        by,
        409,
        'CONFLICT',
        {
          agentId: 'bad.b',
        },
      );
    await refuse(
      'transfer of a queued one to a full agent',
      'POST',
      `/conversations/${id3}/transfer`,
      admin,
      409,
      'CONFLICT',
      {
        agentId: 'bad.a',
      },
    );
    await refuse('transfer by the customer', 'POST', `/conversations/${id1}/transfer`, c1, 403, 'FORBIDDEN', {
      agentId: 'bad.b',
    });
    for (const by of [friend, elsewhere, c3])
      await refuse(`transfer by ${by.id}`, 'POST', `/conversations/${id1}/transfer`, by, 404, 'NOT_FOUND', {
        agentId: 'bad.b',
      });
    for (const body of [{}, { agentId: '' }, { agentId: 'no spaces' }, { agentId: 'bad.b', reason: 'x' }])
      await refuse(
        `transfer ${JSON.stringify(body)}`,
        'POST',
        `/conversations/${id1}/transfer`,
        admin,
        400,
        'VALIDATION_FAILED',
        body,
      );
    // Resolve by someone else than the assigned agent.
    await refuse('resolve by another agent', 'POST', `/conversations/${id1}/resolve`, b, 403, 'FORBIDDEN');
    await refuse('resolve by the customer', 'POST', `/conversations/${id1}/resolve`, c1, 403, 'FORBIDDEN');
    for (const by of [friend, elsewhere, c3])
      await refuse(`resolve by ${by.id}`, 'POST', `/conversations/${id1}/resolve`, by, 404, 'NOT_FOUND');
    await refuse(
      'resolve of a queued one by an agent',
      'POST',
      `/conversations/${id3}/resolve`,
      a,
      403,
      'FORBIDDEN',
    );
    await refuse(
      'resolve of a queued one by an admin',
      'POST',
      `/conversations/${id3}/resolve`,
      admin,
      409,
      'CONFLICT',
    );
    // Escalate by the customer, or by outsiders.
    await refuse('escalate by the customer', 'POST', `/conversations/${id3}/escalate`, c3, 403, 'FORBIDDEN');
    for (const by of [friend, elsewhere, c1])
      await refuse(`escalate by ${by.id}`, 'POST', `/conversations/${id3}/escalate`, by, 404, 'NOT_FOUND');
    // Actions on a conversation that is not a business one, by its participants or an admin; unknown ids.
    for (const action of ['resolve', 'escalate', 'transfer'])
      for (const by of [c1, friend, admin, a])
        await refuse(
          `${action} of a direct conversation`,
          'POST',
          `/conversations/${directId}/${action}`,
          by,
          404,
          'NOT_FOUND',
          action === 'transfer' ? { agentId: 'bad.a' } : undefined,
        );
    for (const action of ['resolve', 'escalate']) {
      await refuse(
        `${action} of an unknown id`,
        'POST',
        `/conversations/${randomUUID()}/${action}`,
        admin,
        404,
        'NOT_FOUND',
      );
      await refuse(
        `${action} of a malformed id`,
        'POST',
        `/conversations/not-a-uuid/${action}`,
        admin,
        400,
        'VALIDATION_FAILED',
      );
    }
    // Administration of this business with bad input.
    await refuse('invalid hours', 'PUT', '/businesses/biz-bad', admin, 400, 'VALIDATION_FAILED', {
      timeZone: 'Europe/Berlin',
      hours: [{ day: 'mon', open: '18:00', close: '08:00' }],
    });
    await refuse('invalid time zone', 'PUT', '/businesses/biz-bad', admin, 400, 'VALIDATION_FAILED', {
      timeZone: 'Europe/Atlantis',
      hours: [],
    });
    await refuse(
      'remove an agent of another business',
      'DELETE',
      '/businesses/biz-bad/agents/bad.elsewhere',
      admin,
      404,
      'NOT_FOUND',
    );
    await refuse(
      'a negative capacity',
      'PUT',
      '/businesses/biz-bad/agents/bad.a',
      admin,
      400,
      'VALIDATION_FAILED',
      {
        capacity: -1,
      },
    );
    await refuse(
      'an agent for an unknown business',
      'PUT',
      '/businesses/biz-nope/agents/bad.a',
      admin,
      404,
      'NOT_FOUND',
      {
        capacity: 1,
      },
    );

    // The snapshot does see changes: an allowed escalation changes it.
    const escalated = await api('POST', `/conversations/${id2}/escalate`, a);
    assert.equal(escalated.status, 200, JSON.stringify(escalated.body));
    assert.equal(escalated.body.business.priority, 'high');
    assert.notEqual(await snapshot(), before);
  });

  it('an admin resolves without being in it; a resolved conversation is not transferred (409): it is re-opened by its customer', async (t) => {
    await putBusiness('biz-done', ALWAYS);
    await putAgent('biz-done', 'done.a', 1);
    await putAgent('biz-done', 'done.b', 1);
    const a = await user(t, 'done.a', true);
    await waitPresence('biz-done', a.id, 'online');
    const customer = await user(t, 'done.customer');
    const c = await open(customer, 'biz-done');
    assert.equal(c.business.assignedAgentId, a.id);
    // An admin resolves it without being in it.
    const resolved = await api('POST', `/conversations/${c.id}/resolve`, admin);
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    assert.deepEqual(
      [resolved.body.business.status, resolved.body.business.assignedAgentId],
      ['resolved', null],
    );
    assert.equal((await businessView('biz-done')).agents[0].load, 0);
    const before = JSON.stringify([await view(customer, c.id), await businessView('biz-done')]);
    for (const by of [admin, a])
      assertError(
        await api('POST', `/conversations/${c.id}/transfer`, by, { agentId: 'done.b' }),
        409,
        'CONFLICT',
        'transfer of a resolved conversation',
      );
    assert.equal(JSON.stringify([await view(customer, c.id), await businessView('biz-done')]), before);
  });

  // ---- queue positions over the socket -----------------------------------------------------------

  it('every status change sends conversation:updated to the customer and agents involved, and new positions to everyone behind', async (t) => {
    await putBusiness('biz-queue', ALWAYS);
    await putAgent('biz-queue', 'q.a', 1);
    await putAgent('biz-queue', 'q.b', 1);
    const qa = await user(t, 'q.a', true);
    const qb = await user(t, 'q.b', true);
    await waitPresence('biz-queue', qa.id, 'online');
    await waitPresence('biz-queue', qb.id, 'online');
    const cs: User[] = [];
    const ids: string[] = [];
    for (let i = 0; i <= 6; i++) {
      const c = await user(t, `q.c${i}`, true);
      cs.push(c);
      ids.push((await open(c, 'biz-queue')).id);
    }
    const everyone = [qa, qb, ...cs];
    const mark = () => new Map(everyone.map((u) => [u.id, u.updates.length]));

    /**
     * After a change: each customer's socket got an update of their conversation with the expected
     * state, and it agrees with what GET says; the agents listed got it too.
     */
    async function expectStates(
      since: Map<string, number>,
      expected: Record<number, [status: string, agent: string | null, position: number | null]>,
      agentsOf: Record<number, User[]> = {},
    ): Promise<void> {
      for (const [i, [status, agent, position]] of Object.entries(expected).map(
        ([k, v]) => [Number(k), v] as const,
      )) {
        const match = (b: any) =>
          b.status === status && b.assignedAgentId === agent && b.queuePosition === position;
        const what = `q.c${i} ${status} ${agent} ${position}`;
        const rest = (await view(cs[i]!, ids[i]!)).business;
        assert.deepEqual(
          [rest.status, rest.assignedAgentId, rest.queuePosition],
          [status, agent, position],
          what,
        );
        for (const u of [cs[i]!, ...(agentsOf[i] ?? [])])
          await waitUpdate(u, since.get(u.id)!, ids[i]!, match, `${what} (to ${u.id})`);
      }
    }

    // From the start: every socket was connected before the conversations were opened.
    let since = new Map(everyone.map((u) => [u.id, 0]));
    await expectStates(
      since,
      {
        0: ['assigned', 'q.a', null],
        1: ['assigned', 'q.b', null],
        2: ['queued', null, 1],
        3: ['queued', null, 2],
        4: ['queued', null, 3],
        5: ['queued', null, 4],
        6: ['queued', null, 5],
      },
      { 0: [qa], 1: [qb] },
    );

    // Escalating the last one: it goes first, everyone it overtook moves back one.
    since = mark();
    const esc = await api('POST', `/conversations/${ids[6]}/escalate`, admin);
    assert.equal(esc.status, 200, JSON.stringify(esc.body));
    await expectStates(since, {
      6: ['queued', null, 1],
      2: ['queued', null, 2],
      3: ['queued', null, 3],
      4: ['queued', null, 4],
      5: ['queued', null, 5],
    });
    assert.equal(cs[6]!.updates.at(-1).business.priority, 'high');

    // q.a resolves c0: c6 (high) is assigned to q.a; everyone still queued moves up one.
    since = mark();
    assert.equal((await api('POST', `/conversations/${ids[0]}/resolve`, qa)).status, 200);
    await expectStates(
      since,
      {
        0: ['resolved', null, null],
        6: ['assigned', 'q.a', null],
        2: ['queued', null, 1],
        3: ['queued', null, 2],
        4: ['queued', null, 3],
        5: ['queued', null, 4],
      },
      { 0: [qa], 6: [qa] },
    );

    // More capacity for q.b: the head of the queue is assigned, the others move up.
    since = mark();
    await putAgent('biz-queue', 'q.b', 2);
    await expectStates(
      since,
      {
        2: ['assigned', 'q.b', null],
        3: ['queued', null, 1],
        4: ['queued', null, 2],
        5: ['queued', null, 3],
      },
      { 2: [qb] },
    );

    // A queued conversation transferred by an admin to an (offline) agent with capacity: out of the queue.
    await putAgent('biz-queue', 'q.z', 1);
    since = mark();
    const tr = await api('POST', `/conversations/${ids[4]}/transfer`, admin, { agentId: 'q.z' });
    assert.equal(tr.status, 200, JSON.stringify(tr.body));
    await expectStates(since, {
      4: ['assigned', 'q.z', null],
      3: ['queued', null, 1],
      5: ['queued', null, 2],
    });

    // q.b removed: c1 and c2 go back to the queue ahead of the newer ones, who move back.
    since = mark();
    assert.equal((await api('DELETE', '/businesses/biz-queue/agents/q.b', admin)).status, 204);
    await expectStates(
      since,
      {
        1: ['queued', null, 1],
        2: ['queued', null, 2],
        3: ['queued', null, 3],
        5: ['queued', null, 4],
      },
      { 1: [qb], 2: [qb] },
    );

    // An assigned conversation escalated (by another agent of the business): its customer and its agent hear of it.
    const qz = await user(t, 'q.z', true);
    await waitPresence('biz-queue', qz.id, 'online');
    since = mark();
    const sinceZ = qz.updates.length;
    assert.equal((await api('POST', `/conversations/${ids[4]}/escalate`, qa)).status, 200);
    const high = (b: any) => b.priority === 'high' && b.status === 'assigned' && b.assignedAgentId === 'q.z';
    await waitUpdate(cs[4]!, since.get(cs[4]!.id)!, ids[4]!, high, 'escalated');
    await waitUpdate(qz, sinceZ, ids[4]!, high, 'escalated (agent)');
  });

  it('a conversation that waited while closed queues in its place when routed, and those it overtakes hear their new position', async (t) => {
    // Closed now: the only opening is in two days.
    await putBusiness('biz-late', [hourOn(2)]);
    await putAgent('biz-late', 'late.agent', 0);
    const early = await user(t, 'late.early', true);
    const c = await open(early, 'biz-late');
    assert.equal(c.business.status, 'closed');

    // Open around the clock now; two newer customers queue (the agent takes nobody).
    await putBusiness('biz-late', ALWAYS);
    const newer = [await user(t, 'late.n1', true), await user(t, 'late.n2', true)];
    const newIds: string[] = [];
    for (const u of newer) newIds.push((await open(u, 'biz-late')).id);
    assert.deepEqual(
      await Promise.all(newer.map(async (u, i) => (await view(u, newIds[i])).business.queuePosition)),
      [1, 2],
    );

    // The early customer writes: routed, queued in the place it has had since it was opened.
    const since = [early, ...newer].map((u) => u.updates.length);
    const sent = await api('POST', `/conversations/${c.id}/messages`, early, {
      clientMessageId: randomUUID(),
      content: { text: 'hello again' },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    await waitUpdate(
      early,
      since[0]!,
      c.id,
      (b) => b.status === 'queued' && b.queuePosition === 1,
      'queued first',
    );
    for (const [i, u] of newer.entries()) {
      assert.equal((await view(u, newIds[i])).business.queuePosition, i + 2);
      await waitUpdate(u, since[i + 1]!, newIds[i], (b) => b.queuePosition === i + 2, `${u.id} moved back`);
    }
  });

  it('at opening time the waiting conversations are routed oldest first, whatever opening each was told', async (t) => {
    // Closed now. The older customer is told the business opens in two days; the hours then gain
    // tomorrow, and the newer customer is told tomorrow. At a time both are due, the older one is first.
    await putBusiness('biz-opening', [hourOn(2)]);
    await putAgent('biz-opening', 'opening.agent', 1);
    const agent = await user(t, 'opening.agent', true);
    await waitPresence('biz-opening', agent.id, 'online');
    const older = await user(t, 'opening.older');
    const x = await open(older, 'biz-opening');
    assert.deepEqual([x.business.status, x.business.opensAt], ['closed', day(2).toISOString()]);
    await putBusiness('biz-opening', [hourOn(1), hourOn(2)]);
    const newer = await user(t, 'opening.newer');
    const y = await open(newer, 'biz-opening');
    assert.deepEqual([y.business.status, y.business.opensAt], ['closed', day(1).toISOString()]);
    for (const [u, c] of [
      [older, x],
      [newer, y],
    ] as const) {
      const sent = await api('POST', `/conversations/${c.id}/messages`, u, {
        clientMessageId: randomUUID(),
        content: { text: 'anyone?' },
      });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
    }

    await app.app.get(RoutingService).sweep(new Date(day(2).getTime() + 30 * 60_000));
    const [vx, vy] = [(await view(older, x.id)).business, (await view(newer, y.id)).business];
    assert.deepEqual([vx.status, vx.assignedAgentId], ['assigned', agent.id]);
    assert.deepEqual([vy.status, vy.queuePosition], ['queued', 1]);
  });

  it('a conversation not routed yet is not in the queue: a drain in between (an agent coming online) does not assign it while closed', async (t) => {
    // Seen once under load: an agent's presence drained the business between a new conversation's
    // insert and its routing, took the unrouted conversation as the head of the queue and assigned
    // it although the business was closed. Here the drain is run in exactly that window.
    const opening = day(2);
    await putBusiness('biz-unrouted', [hourOn(2)]);
    await putAgent('biz-unrouted', 'unrouted.agent', 1);
    const agent = await user(t, 'unrouted.agent', true);
    await waitPresence('biz-unrouted', agent.id, 'online');
    const routing = app.app.get(RoutingService);
    const repo = app.app.get(BusinessRepository);
    const route = routing.route.bind(routing);
    let drainedWhileUnrouted = false;
    routing.route = async (id, at) => {
      const row = await repo.findConversation(id);
      if (row?.business_id === 'biz-unrouted' && row.queued_at === null && !drainedWhileUnrouted) {
        await routing.drainBusiness('biz-unrouted');
        drainedWhileUnrouted = true;
      }
      return route(id, at);
    };
    t.after(() => Reflect.deleteProperty(routing, 'route'));
    const c = await open(await user(t, 'unrouted.customer'), 'biz-unrouted');
    assert.ok(drainedWhileUnrouted, 'the drain ran in the window');
    assert.deepEqual([c.business.status, c.business.opensAt], ['closed', opening.toISOString()]);
    assert.equal((await businessView('biz-unrouted')).agents[0].load, 0);
  });

  it('a conversation whose routing never happened (the instance stopped after storing it) is routed by the next open', async (t) => {
    await putBusiness('biz-stranded', ALWAYS);
    await putAgent('biz-stranded', 'stranded.agent', 1);
    const agent = await user(t, 'stranded.agent', true);
    await waitPresence('biz-stranded', agent.id, 'online');
    const customer = await user(t, 'stranded.customer');
    // Stored as POST /conversations stores it, and not routed (not in the queue: nothing else routes it).
    const id = await app.app
      .get(Db)
      .transaction((tx) =>
        app.app.get(BusinessRepository).createConversation(tx, randomUUID(), 'biz-stranded', customer.id),
      )
      .then((r) => r.id);
    assert.equal((await businessView('biz-stranded')).agents[0].load, 0);
    const res = await api('POST', '/conversations', customer, {
      type: 'business',
      businessId: 'biz-stranded',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body)); // the existing one
    const again = res.body;
    assert.equal(again.id, id);
    assert.deepEqual([again.business.status, again.business.assignedAgentId], ['assigned', agent.id]);
  });

  it('two conversations queued within one millisecond: the one told position 1 is assigned first', async (t) => {
    await putBusiness('biz-same-ms', ALWAYS);
    await putAgent('biz-same-ms', 'samems.agent', 1);
    // Nobody online: both wait.
    const [a, b] = [await user(t, 'samems.a'), await user(t, 'samems.b')];
    const ids = [(await open(a, 'biz-same-ms')).id, (await open(b, 'biz-same-ms')).id].sort();
    const [low, high] = ids as [string, string];
    // Queued in one millisecond, the higher id 800 µs earlier: the queue (to the microsecond) has it
    // first, while the dates JavaScript reads are equal (and a re-sort by id put the other first).
    const db = app.app.get(Db);
    await db.query(`UPDATE conversations SET queued_at = $2 WHERE id = $1`, [
      high,
      '2026-01-05T10:00:00.000100Z',
    ]);
    await db.query(`UPDATE conversations SET queued_at = $2 WHERE id = $1`, [
      low,
      '2026-01-05T10:00:00.000900Z',
    ]);
    const viewOf = async (id: string) => {
      for (const u of [a, b]) {
        const res = await api('GET', `/conversations/${id}`, u);
        if (res.status === 200) return res.body;
      }
      throw new Error(`no view of ${id}`);
    };
    assert.equal((await viewOf(high)).business.queuePosition, 1);
    assert.equal((await viewOf(low)).business.queuePosition, 2);

    // The agent comes online: one free place, for the conversation at position 1.
    const agent = await user(t, 'samems.agent', true);
    await waitPresence('biz-same-ms', agent.id, 'online');
    await until(
      async () => (await viewOf(high)).business.status === 'assigned',
      'position 1 assigned',
      20_000,
      POLL_APP_MS,
    );
    assert.equal((await viewOf(high)).business.assignedAgentId, agent.id);
    const other = (await viewOf(low)).business;
    assert.deepEqual([other.status, other.queuePosition], ['queued', 1]);
  });

  it('a resolved conversation re-opened while closed waits from when it was re-opened, not from its first place', async (t) => {
    await putBusiness('biz-again', ALWAYS);
    await putAgent('biz-again', 'again.agent', 1);
    const agent = await user(t, 'again.agent', true);
    await waitPresence('biz-again', agent.id, 'online');
    const returning = await user(t, 'again.returning');
    const a = await open(returning, 'biz-again');
    assert.equal(a.business.status, 'assigned');
    assert.equal((await api('POST', `/conversations/${a.id}/resolve`, agent)).status, 200);

    // Closed now, open in two days; a new customer writes, then the returning one writes again.
    const opening = day(2);
    await putBusiness('biz-again', [hourOn(2)]);
    const first = await user(t, 'again.first');
    const b = await open(first, 'biz-again');
    assert.equal(b.business.status, 'closed');
    for (const [u, c] of [
      [first, b],
      [returning, a],
    ] as const) {
      const sent = await api('POST', `/conversations/${c.id}/messages`, u, {
        clientMessageId: randomUUID(),
        content: { text: 'hello?' },
      });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
    }
    await until(
      async () => (await view(returning, a.id)).business.status === 'closed',
      're-opened while closed',
      20_000,
      POLL_APP_MS,
    );

    await app.app.get(RoutingService).sweep(new Date(opening.getTime() + 60_000));
    const [va, vb] = [(await view(returning, a.id)).business, (await view(first, b.id)).business];
    assert.deepEqual([vb.status, vb.assignedAgentId], ['assigned', agent.id]);
    assert.deepEqual([va.status, va.queuePosition], ['queued', 1]);
  });

  /**
   * Sweeps halfway through the grace period (the conversation stays with `away`) and past it (it is
   * re-queued and goes to `back`).
   */
  async function graceThenBack(
    customer: User,
    conversationId: string,
    away: string,
    back: string,
  ): Promise<void> {
    const routing = app.app.get(RoutingService);
    const graceMs = app.config.AGENT_GRACE_S * 1000;
    await routing.sweep(new Date(Date.now() + graceMs / 2));
    assert.equal((await view(customer, conversationId)).business.assignedAgentId, away);
    await routing.sweep(new Date(Date.now() + graceMs + 5_000));
    const after = (await view(customer, conversationId)).business;
    assert.deepEqual([after.status, after.assignedAgentId], ['assigned', back]);
  }

  it('a conversation transferred to an agent who is offline is re-queued after the grace period if they stay away', async (t) => {
    await putBusiness('biz-away', ALWAYS);
    await putAgent('biz-away', 'away.a', 1);
    // away.z has not connected since becoming an agent (no presence change has been seen for them).
    const z = await user(t, 'away.z');
    await putAgent('biz-away', 'away.z', 1);
    const a = await user(t, 'away.a', true);
    await waitPresence('biz-away', a.id, 'online');
    assert.equal((await businessView('biz-away')).agents[1].presence, 'offline');
    const customer = await user(t, 'away.customer');
    const c = await open(customer, 'biz-away');
    assert.equal(c.business.assignedAgentId, a.id);
    const moved = await api('POST', `/conversations/${c.id}/transfer`, admin, { agentId: z.id });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.business.assignedAgentId, z.id);

    // Within the grace period nothing moves; after it, the conversation goes back to the queue and to away.a.
    await graceThenBack(customer, c.id, z.id, a.id);
    assert.deepEqual(
      (await businessView('biz-away')).agents.map((x: any) => [x.userId, x.load]),
      [
        [a.id, 1],
        [z.id, 0],
      ],
    );
  });

  it('a conversation transferred to an agent who went offline long ago is theirs for a grace period from the transfer', async (t) => {
    await putBusiness('biz-gone', ALWAYS);
    await putAgent('biz-gone', 'gone.a', 1);
    await putAgent('biz-gone', 'gone.z', 1);
    const a = await user(t, 'gone.a', true);
    await waitPresence('biz-gone', a.id, 'online');
    // gone.z was online, went offline (holding nothing) and stayed away far longer than the grace period.
    const z = await user(t, 'gone.z', true);
    await waitPresence('biz-gone', z.id, 'online');
    z.socket!.close();
    await waitPresence('biz-gone', z.id, 'offline');
    const db = app.app.get(Db);
    const offlineSince = async () =>
      (
        await db.query(`SELECT offline_since FROM agents WHERE business_id = 'biz-gone' AND user_id = $1`, [
          z.id,
        ])
      )[0].offline_since as Date | null;
    await until(offlineSince, 'the offline handled');
    await db.query(
      `UPDATE agents SET offline_since = now() - interval '1 hour' WHERE business_id = 'biz-gone' AND user_id = $1`,
      [z.id],
    );

    const customer = await user(t, 'gone.customer');
    const c = await open(customer, 'biz-gone');
    assert.equal(c.business.assignedAgentId, a.id);
    const before = Date.now();
    const moved = await api('POST', `/conversations/${c.id}/transfer`, admin, { agentId: z.id });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.business.assignedAgentId, z.id);
    assert.ok((await offlineSince())!.getTime() >= before - 1_000, 'the grace period starts at the transfer');

    // Within the grace period from the transfer it stays with gone.z; after it, back to gone.a.
    await graceThenBack(customer, c.id, z.id, a.id);
  });

  it('a closed conversation whose opening passed unused is re-timed when its customer writes while closed again', async (t) => {
    // Closed now, open in two days. The conversation was told an opening that has since passed
    // without it being routed (its customer had not written; the business is closed again).
    await putBusiness('biz-stale', [hourOn(2)]);
    const customer = await user(t, 'stale.customer', true);
    const c = await open(customer, 'biz-stale');
    assert.deepEqual([c.business.status, c.business.opensAt], ['closed', day(2).toISOString()]);
    const db = app.app.get(Db);
    await db.query(`UPDATE conversations SET opens_at = $2 WHERE id = $1`, [c.id, day(-1)]);
    const history = async () =>
      (await api('GET', `/conversations/${c.id}/messages?after=0&limit=100`, customer)).body.items.map(
        (m: any) => `${m.type}:${m.content.text}`,
      );
    const [closed] = await history();
    assert.match(closed, /^system:We are closed right now, we open at /);

    // The customer writes: still closed, told the next opening (a new opensAt, announced, and a new
    // closed message after theirs), and not due to open before it.
    const since = customer.updates.length;
    const sent = await api('POST', `/conversations/${c.id}/messages`, customer, {
      clientMessageId: randomUUID(),
      content: { text: 'hello?' },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    // The creation's updates are fanned out after its answer and may come after `since`, with the
    // same status and opening (read before the UPDATE above): the re-timing's is the one that comes
    // with the closed message after the customer's.
    await waitUpdate(
      customer,
      since,
      c.id,
      (b, conv) =>
        b.status === 'closed' && b.opensAt === day(2).toISOString() && conv.lastSeq > sent.body.seq,
      're-timed',
    );
    assert.deepEqual(await history(), [closed, 'text:hello?', closed]);
    assert.deepEqual(await app.app.get(BusinessRepository).dueToOpen(new Date(), 'biz-stale'), []);
    // Writing again says nothing more.
    await api('POST', `/conversations/${c.id}/messages`, customer, {
      clientMessageId: randomUUID(),
      content: { text: 'anyone?' },
    });
    await sleep(300);
    assert.deepEqual(await history(), [closed, 'text:hello?', closed, 'text:anyone?']);
  });

  it("the opening sweep is not starved by another business's backlog of conversations due while it is closed again", async (t) => {
    // Business X, closed now (open in three days), has 500 closed conversations with customer
    // messages, whose opening passed unused; they are older than anything else.
    await putBusiness('biz-backlog', [hourOn(3)]);
    const db = app.app.get(Db);
    await db.query(
      `WITH c AS (
         INSERT INTO conversations (id, type, business_id, customer_id, business_status, opens_at, last_seq, created_at)
         SELECT gen_random_uuid(), 'business', 'biz-backlog', 'backlog.c' || i, 'closed', now() - interval '1 day', 1,
                now() - interval '2 days' + i * interval '1 second'
           FROM generate_series(1, 500) i RETURNING id, customer_id)
       INSERT INTO messages (id, conversation_id, seq, sender_id, type, content)
       SELECT gen_random_uuid(), c.id, 1, c.customer_id, 'text', '{"text":"hi"}' FROM c`,
    );
    // Business Y, open: its customer wrote while it was closed, and it opened an hour ago.
    await putBusiness('biz-due', ALWAYS);
    const customer = await user(t, 'due.customer');
    const y = await open(customer, 'biz-due');
    const sent = await api('POST', `/conversations/${y.id}/messages`, customer, {
      clientMessageId: randomUUID(),
      content: { text: 'hello' },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    await db.query(
      `UPDATE conversations SET business_status = 'closed', queued_at = NULL, opens_at = now() - interval '1 hour'
        WHERE id = $1`,
      [y.id],
    );

    // One sweep routes Y's, and re-times X's to X's next opening: not due again before it.
    await app.app.get(RoutingService).sweep(new Date());
    const b = (await view(customer, y.id)).business;
    assert.deepEqual([b.status, b.queuePosition, b.opensAt], ['queued', 1, null]);
    const rows: { opens_at: Date; n: number }[] = await db.query(
      `SELECT opens_at, count(*)::int AS n FROM conversations WHERE business_id = 'biz-backlog' GROUP BY 1`,
    );
    assert.deepEqual(rows, [{ opens_at: day(3), n: 500 }]);
    assert.ok(
      !(await app.app.get(BusinessRepository).businessesDueToOpen(new Date())).includes('biz-backlog'),
    );
  });

  it('new opening hours apply to conversations already waiting: routed at once when open now, told the new opening otherwise', async (t) => {
    await putBusiness('biz-rehours', [hourOn(3)]);
    await putAgent('biz-rehours', 'rehours.agent', 2);
    const agent = await user(t, 'rehours.agent', true);
    await waitPresence('biz-rehours', agent.id, 'online');
    const writer = await user(t, 'rehours.writer');
    const silent = await user(t, 'rehours.silent', true);
    const w = await open(writer, 'biz-rehours');
    const s = await open(silent, 'biz-rehours');
    for (const c of [w, s])
      assert.deepEqual([c.business.status, c.business.opensAt], ['closed', day(3).toISOString()]);
    const sent = await api('POST', `/conversations/${w.id}/messages`, writer, {
      clientMessageId: randomUUID(),
      content: { text: 'call me back' },
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));

    // An earlier opening: both are told it.
    const since = silent.updates.length;
    await putBusiness('biz-rehours', [hourOn(1), hourOn(3)]);
    await waitUpdate(
      silent,
      since,
      s.id,
      (b) => b.status === 'closed' && b.opensAt === day(1).toISOString(),
      'the new opening',
    );
    for (const [u, c] of [
      [writer, w],
      [silent, s],
    ] as const)
      assert.deepEqual(
        [(await view(u, c.id)).business.status, (await view(u, c.id)).business.opensAt],
        ['closed', day(1).toISOString()],
      );

    // Open around the clock from now: the one who wrote is routed without writing again.
    await putBusiness('biz-rehours', ALWAYS);
    const routed = await until(
      async () => {
        const b = (await view(writer, w.id)).business;
        return b.status === 'assigned' ? b : undefined;
      },
      'routed after the hours changed',
      20_000,
      POLL_APP_MS,
    );
    assert.equal(routed.assignedAgentId, agent.id);
    assert.equal(routed.opensAt, null);
    // The one who never wrote stays closed until they write, then is routed.
    assert.equal((await view(silent, s.id)).business.status, 'closed');
    const hello = await api('POST', `/conversations/${s.id}/messages`, silent, {
      clientMessageId: randomUUID(),
      content: { text: 'hello' },
    });
    assert.equal(hello.status, 201, JSON.stringify(hello.body));
    await until(
      async () => (await view(silent, s.id)).business.status === 'assigned',
      'silent routed once they wrote',
      20_000,
      POLL_APP_MS,
    );
  });

  // ---- the chat list -----------------------------------------------------------------------------

  it('business conversations carry the business profile in the chat list and in updates', async (t) => {
    await putBusiness('biz-list', ALWAYS);
    await putAgent('biz-list', 'list.agent', 2);
    const agent = await user(t, 'list.agent', true);
    await waitPresence('biz-list', agent.id, 'online');
    const customer = await user(t, 'list.customer', true);
    const direct = await api('POST', '/conversations', customer, {
      type: 'direct',
      participantIds: ['list.friend'],
    });
    assert.equal(direct.status, 201);
    const c = await open(customer, 'biz-list');
    assert.deepEqual(c.business.profile, businessProfile('biz-list'));

    const list = async (u: User) => {
      const res = await api('GET', '/conversations?limit=100', u);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.items as any[];
    };
    const mine = await list(customer);
    assert.deepEqual(
      mine.map((x) => [x.id, x.type]).sort(),
      [
        [c.id, 'business'],
        [direct.body.id, 'direct'],
      ].sort(),
    );
    const item = mine.find((x) => x.id === c.id)!;
    assert.deepEqual(item.business, {
      id: 'biz-list',
      profile: businessProfile('biz-list'),
      status: 'assigned',
      assignedAgentId: agent.id,
      queuePosition: null,
      priority: 'normal',
      opensAt: null,
    });
    assert.deepEqual(
      item.participants.map((p: any) => [p.userId, p.role, p.profile]).sort(),
      [
        [agent.id, 'agent', userProfile(agent.id)],
        [customer.id, 'customer', userProfile(customer.id)],
      ].sort(),
    );
    assert.equal(mine.find((x) => x.id === direct.body.id)!.business, null);
    // The agent's chat list too.
    const theirs = (await list(agent)).find((x) => x.id === c.id);
    assert.deepEqual(theirs?.business.profile, businessProfile('biz-list'));
    // And the socket updates.
    const update = await until(
      () => customer.updates.find((u) => u.id === c.id && u.business?.status === 'assigned'),
      'assigned update',
      15_000,
      10,
    );
    assert.deepEqual(update.business.profile, businessProfile('biz-list'));
  });
});
