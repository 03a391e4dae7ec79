// Conversations (CONTRACT §2) against the real app and the real PostgreSQL: direct and group
// creation, participants and roles, the chat list and its cursor, and every bad input.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';
import { http, testWorld, token, type TestApp } from './support/app';
import { assertError } from './support/errors';

type Res = Awaited<ReturnType<typeof http>>;

const CONVERSATION_KEYS = [
  'business',
  'createdAt',
  'id',
  'lastActivityAt',
  'lastDeletedAt', // an extension (README)
  'lastMessage',
  'lastSeq',
  'participants',
  'title',
  'type',
  'unreadCount',
];

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

describe('conversations', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let pg: Pool;
  const tokens = new Map<string, string>();

  async function tok(user: string): Promise<string> {
    if (!tokens.has(user)) tokens.set(user, await token(user));
    return tokens.get(user)!;
  }
  const call = async (user: string, method: string, path: string, body?: unknown) =>
    http(app.url, method, path, { token: await tok(user), body });
  const create = (user: string, body: unknown) => call(user, 'POST', '/conversations', body);
  const send = (user: string, id: string, text = 'hi') =>
    call(user, 'POST', `/conversations/${id}/messages`, { clientMessageId: randomUUID(), content: { text } });

  async function group(owner: string, others: string[], title = 'Trip'): Promise<string> {
    const res = await create(owner, { type: 'group', title, participantIds: others });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  }

  async function fingerprint(): Promise<string> {
    const { rows } = await pg.query(`
      SELECT (SELECT md5(coalesce(string_agg(c::text, '|' ORDER BY c.id), '')) FROM conversations c)
          || (SELECT md5(coalesce(string_agg(p::text, '|' ORDER BY p.conversation_id, p.user_id), '')) FROM participants p)
          || (SELECT md5(coalesce(string_agg(m::text, '|' ORDER BY m.id), '')) FROM messages m) AS f`);
    return rows[0].f;
  }

  async function roles(id: string): Promise<Record<string, string>> {
    const { rows } = await pg.query(
      `SELECT user_id, role FROM participants WHERE conversation_id = $1 ORDER BY user_id`,
      [id],
    );
    return Object.fromEntries(rows.map((r) => [r.user_id, r.role]));
  }

  async function bruteUnread(conversationId: string, userId: string): Promise<number> {
    const { rows } = await pg.query(
      `SELECT count(*)::int AS n FROM messages m JOIN participants p
          ON p.conversation_id = m.conversation_id AND p.user_id = $2
        WHERE m.conversation_id = $1 AND m.seq > p.last_read_seq
          AND m.sender_id IS DISTINCT FROM $2 AND m.deleted_at IS NULL`,
      [conversationId, userId],
    );
    return rows[0].n;
  }

  before(async () => {
    world = await testWorld();
    app = await world.start({ REST_RATE_LIMIT: '1000000', RETENTION_SWEEP_S: '0' });
    pg = new Pool({ connectionString: world.db.url, max: 3 });
  });
  after(async () => {
    await pg?.end();
    await world?.close();
  });

  describe('direct', () => {
    it('201 then 200 with the same id from either side', async () => {
      const first = await create('d.alice', { type: 'direct', participantIds: ['d.bob'] });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      assert.deepEqual(Object.keys(first.body).sort(), CONVERSATION_KEYS);
      assert.equal(first.body.type, 'direct');
      assert.equal(first.body.title, null);
      assert.equal(first.body.business, null);
      assert.equal(first.body.lastMessage, null);
      assert.equal(first.body.lastSeq, 0);
      assert.equal(first.body.unreadCount, 0);
      assert.deepEqual(first.body.participants.map((p: any) => p.userId).sort(), ['d.alice', 'd.bob']);
      for (const p of first.body.participants) {
        assert.deepEqual(Object.keys(p).sort(), ['joinedAt', 'lastReadSeq', 'profile', 'role', 'userId']);
        assert.equal(p.role, 'member');
        assert.equal(p.lastReadSeq, 0);
        assert.equal(typeof p.profile.displayName, 'string');
      }
      const again = await create('d.alice', { type: 'direct', participantIds: ['d.bob'] });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, first.body.id);
      const other = await create('d.bob', { type: 'direct', participantIds: ['d.alice'] });
      assert.equal(other.status, 200);
      assert.equal(other.body.id, first.body.id);
      const third = await create('d.alice', { type: 'direct', participantIds: ['d.carol'] });
      assert.equal(third.status, 201);
      assert.notEqual(third.body.id, first.body.id);
    });

    it('20 simultaneous creations of one pair, from both sides, meet in one conversation', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2
            ? create('race.a', { type: 'direct', participantIds: ['race.b'] })
            : create('race.b', { type: 'direct', participantIds: ['race.a'] }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status).sort((a, b) => b - a),
        [201, ...Array(19).fill(200)],
        JSON.stringify(results.find((r) => r.status >= 300)?.body),
      );
      assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
      const { rows } = await pg.query(
        `SELECT c.id, count(p.*)::int AS n FROM conversations c JOIN participants p ON p.conversation_id = c.id
          WHERE c.type = 'direct' AND c.id IN (SELECT conversation_id FROM participants WHERE user_id = 'race.a')
          GROUP BY c.id`,
      );
      assert.deepEqual(rows, [{ id: results[0]!.body.id, n: 2 }]);
    });

    it('cannot change its participants (403), whoever asks', async () => {
      const d = await create('dx.a', { type: 'direct', participantIds: ['dx.b'] });
      const id = d.body.id;
      const before = await fingerprint();
      assertError(
        await call('dx.a', 'POST', `/conversations/${id}/participants`, { userId: 'dx.c' }),
        403,
        'FORBIDDEN',
      );
      assertError(await call('dx.a', 'DELETE', `/conversations/${id}/participants/dx.b`), 403, 'FORBIDDEN');
      assertError(await call('dx.a', 'DELETE', `/conversations/${id}/participants/dx.a`), 403, 'FORBIDDEN');
      assertError(
        await call('dx.a', 'PATCH', `/conversations/${id}/participants/dx.b`, { role: 'admin' }),
        403,
        'FORBIDDEN',
      );
      assert.equal(await fingerprint(), before);
    });
  });

  describe('create: bad input', () => {
    it('answers VALIDATION_FAILED (or LIMIT_EXCEEDED) and creates nothing', async () => {
      const nine = Array.from({ length: 8 }, (_, i) => `nine${i}`);
      const cases: [string, unknown, number, string][] = [
        ['no type', { participantIds: ['x'] }, 400, 'VALIDATION_FAILED'],
        ['bad type', { type: 'channel', participantIds: ['x'] }, 400, 'VALIDATION_FAILED'],
        ['numeric type', { type: 1, participantIds: ['x'] }, 400, 'VALIDATION_FAILED'],
        ['direct, no participants', { type: 'direct' }, 400, 'VALIDATION_FAILED'],
        ['direct, empty participants', { type: 'direct', participantIds: [] }, 400, 'VALIDATION_FAILED'],
        ['direct, two others', { type: 'direct', participantIds: ['x', 'y'] }, 400, 'VALIDATION_FAILED'],
        ['direct, same one twice', { type: 'direct', participantIds: ['x', 'x'] }, 400, 'VALIDATION_FAILED'],
        ['direct with self', { type: 'direct', participantIds: ['creator'] }, 400, 'VALIDATION_FAILED'],
        [
          'direct with title',
          { type: 'direct', participantIds: ['x'], title: 't' },
          400,
          'VALIDATION_FAILED',
        ],
        ['group without title', { type: 'group', participantIds: ['x'] }, 400, 'VALIDATION_FAILED'],
        ['group, empty title', { type: 'group', title: '', participantIds: ['x'] }, 400, 'VALIDATION_FAILED'],
        [
          'group, blank title',
          { type: 'group', title: '   ', participantIds: ['x'] },
          400,
          'VALIDATION_FAILED',
        ],
        [
          'group, 101-char title',
          { type: 'group', title: 't'.repeat(101), participantIds: ['x'] },
          400,
          'VALIDATION_FAILED',
        ],
        [
          'group, title not a string',
          { type: 'group', title: 5, participantIds: ['x'] },
          400,
          'VALIDATION_FAILED',
        ],
        [
          'group, NUL in title',
          { type: 'group', title: 'a\u0000b', participantIds: ['x'] },
          400,
          'VALIDATION_FAILED',
        ],
        ['group alone', { type: 'group', title: 't', participantIds: [] }, 400, 'VALIDATION_FAILED'],
        [
          'group with only self',
          { type: 'group', title: 't', participantIds: ['creator'] },
          400,
          'VALIDATION_FAILED',
        ],
        ['group of 9', { type: 'group', title: 't', participantIds: nine }, 422, 'LIMIT_EXCEEDED'],
        [
          'group of 12',
          { type: 'group', title: 't', participantIds: [...nine, 'a', 'b', 'c'] },
          422,
          'LIMIT_EXCEEDED',
        ],
        [
          'group of 200 (far past the limit: still the limit, not a validation error)',
          { type: 'group', title: 't', participantIds: Array.from({ length: 200 }, (_, i) => `m${i}`) },
          422,
          'LIMIT_EXCEEDED',
        ],
        [
          'group with businessId',
          { type: 'group', title: 't', participantIds: ['x'], businessId: 'b1' },
          400,
          'VALIDATION_FAILED',
        ],
        ['unknown field', { type: 'direct', participantIds: ['x'], mute: true }, 400, 'VALIDATION_FAILED'],
        ['participantIds not an array', { type: 'direct', participantIds: 'x' }, 400, 'VALIDATION_FAILED'],
        ['participant id not a string', { type: 'direct', participantIds: [7] }, 400, 'VALIDATION_FAILED'],
        [
          'participant id with a space',
          { type: 'direct', participantIds: ['a b'] },
          400,
          'VALIDATION_FAILED',
        ],
        [
          'participant id with a slash',
          { type: 'direct', participantIds: ['a/b'] },
          400,
          'VALIDATION_FAILED',
        ],
        [
          'participant id with a quote',
          { type: 'group', title: 't', participantIds: ["o'neil"] },
          400,
          'VALIDATION_FAILED',
        ],
        ['participant id non-ASCII', { type: 'direct', participantIds: ['zoë'] }, 400, 'VALIDATION_FAILED'],
        ['empty participant id', { type: 'direct', participantIds: [''] }, 400, 'VALIDATION_FAILED'],
        [
          '65-char participant id',
          { type: 'direct', participantIds: ['u'.repeat(65)] },
          400,
          'VALIDATION_FAILED',
        ],
        ['array body', [{ type: 'direct', participantIds: ['x'] }], 400, 'VALIDATION_FAILED'],
      ];
      const before = await fingerprint();
      for (const [what, body, status, code] of cases)
        assertError(await create('creator', body), status, code, what);
      const raw = await http(app.url, 'POST', '/conversations', {
        token: await tok('creator'),
        rawBody: '{"type":',
      });
      assertError(raw, 400, 'VALIDATION_FAILED', 'broken JSON');
      assert.equal(await fingerprint(), before);

      // The edges that are fine: a 64-char id, every allowed character, exactly 8 in a group.
      assert.equal(
        (await create('creator', { type: 'direct', participantIds: ['u'.repeat(64)] })).status,
        201,
      );
      assert.equal((await create('creator', { type: 'direct', participantIds: ['A.z_0:9-x'] })).status, 201);
      const eight = await create('creator', { type: 'group', title: 't', participantIds: nine.slice(0, 7) });
      assert.equal(eight.status, 201);
      assert.equal(eight.body.participants.length, 8);
      // The creator listed among the others counts once.
      const withSelf = await create('creator', {
        type: 'group',
        title: 't',
        participantIds: ['creator', ...nine.slice(0, 7)],
      });
      assert.equal(withSelf.status, 201);
    });

    it('needs a token', async () => {
      assertError(
        await http(app.url, 'POST', '/conversations', { body: { type: 'direct', participantIds: ['x'] } }),
        401,
        'UNAUTHENTICATED',
      );
    });
  });

  describe('group', () => {
    it('creator is owner, the others members; title trimmed', async () => {
      const res = await create('g.own', {
        type: 'group',
        title: '  Trip  ',
        participantIds: ['g.m1', 'g.m2', 'g.m1'],
      });
      assert.equal(res.status, 201);
      assert.equal(res.body.type, 'group');
      assert.equal(res.body.title, 'Trip');
      assert.equal(res.body.unreadCount, 0);
      assert.equal(res.body.lastSeq, 0);
      assert.deepEqual(Object.fromEntries(res.body.participants.map((p: any) => [p.userId, p.role])), {
        'g.own': 'owner',
        'g.m1': 'member',
        'g.m2': 'member',
      });
      assert.deepEqual(await roles(res.body.id), { 'g.own': 'owner', 'g.m1': 'member', 'g.m2': 'member' });
    });

    it('add, promote, remove, leave with the contract permissions; owner leaving passes ownership', async () => {
      const id = await group('o', ['m1', 'm2']);
      // Owner adds an admin and a member.
      let res = await call('o', 'POST', `/conversations/${id}/participants`, { userId: 'a1', role: 'admin' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(Object.keys(res.body).sort(), CONVERSATION_KEYS);
      assert.equal(res.body.participants.find((p: any) => p.userId === 'a1').role, 'admin');
      res = await call('o', 'POST', `/conversations/${id}/participants`, { userId: 'm3' });
      assert.equal(res.status, 200);
      assert.equal(res.body.participants.find((p: any) => p.userId === 'm3').role, 'member');
      // An admin adds a member and removes a member.
      assert.equal(
        (await call('a1', 'POST', `/conversations/${id}/participants`, { userId: 'm4' })).status,
        200,
      );
      assert.equal((await call('a1', 'DELETE', `/conversations/${id}/participants/m4`)).status, 204);
      // The owner promotes and demotes.
      res = await call('o', 'PATCH', `/conversations/${id}/participants/m1`, { role: 'admin' });
      assert.equal(res.status, 200);
      assert.equal(res.body.participants.find((p: any) => p.userId === 'm1').role, 'admin');
      res = await call('o', 'PATCH', `/conversations/${id}/participants/m1`, { role: 'member' });
      assert.equal(res.body.participants.find((p: any) => p.userId === 'm1').role, 'member');
      // A member leaves; the owner removes an admin.
      assert.equal((await call('m2', 'DELETE', `/conversations/${id}/participants/m2`)).status, 204);
      assert.deepEqual(await roles(id), { o: 'owner', a1: 'admin', m1: 'member', m3: 'member' });
      // The owner leaves: the admin (a1) becomes owner, ahead of the longer-standing member m1.
      assert.equal((await call('o', 'DELETE', `/conversations/${id}/participants/o`)).status, 204);
      assert.deepEqual(await roles(id), { a1: 'owner', m1: 'member', m3: 'member' });
      // The new owner leaves too: with no admin, the longest-standing member takes over.
      assert.equal((await call('a1', 'DELETE', `/conversations/${id}/participants/a1`)).status, 204);
      assert.deepEqual(await roles(id), { m1: 'owner', m3: 'member' });
      // And may now do what owners do.
      assert.equal(
        (await call('m1', 'POST', `/conversations/${id}/participants`, { userId: 'z', role: 'admin' }))
          .status,
        200,
      );
      assert.equal((await call('m1', 'DELETE', `/conversations/${id}/participants/z`)).status, 204);
    });

    it('a removed user gets 404 everywhere and no longer sees it in the chat list', async () => {
      const id = await group('r.o', ['r.gone', 'r.stay']);
      const mine = { clientMessageId: randomUUID(), content: { text: 'before removal' } };
      assert.equal((await call('r.gone', 'POST', `/conversations/${id}/messages`, mine)).status, 201);
      await send('r.o', id);
      assert.equal((await call('r.o', 'DELETE', `/conversations/${id}/participants/r.gone`)).status, 204);
      assertError(await call('r.gone', 'GET', `/conversations/${id}`), 404, 'NOT_FOUND', 'get');
      assertError(await call('r.gone', 'GET', `/conversations/${id}/messages`), 404, 'NOT_FOUND', 'history');
      assertError(await send('r.gone', id), 404, 'NOT_FOUND', 'send');
      // Not even a retry of what they sent while they were in it.
      assertError(
        await call('r.gone', 'POST', `/conversations/${id}/messages`, mine),
        404,
        'NOT_FOUND',
        'retry',
      );
      assertError(
        await call('r.gone', 'POST', `/conversations/${id}/read`, { seq: 1 }),
        404,
        'NOT_FOUND',
        'read',
      );
      assertError(
        await call('r.gone', 'DELETE', `/conversations/${id}/participants/r.gone`),
        404,
        'NOT_FOUND',
        'leave',
      );
      assertError(
        await call('r.gone', 'POST', `/conversations/${id}/participants`, { userId: 'r.x' }),
        404,
        'NOT_FOUND',
        'add',
      );
      const list = await call('r.gone', 'GET', '/conversations');
      assert.deepEqual(list.body, { items: [], nextCursor: null });
      const still = await call('r.stay', 'GET', `/conversations/${id}`);
      assert.deepEqual(still.body.participants.map((p: any) => p.userId).sort(), ['r.o', 'r.stay']);
      assert.equal(still.body.unreadCount, 2, 'the removed user’s messages stay');
    });

    it('a new participant starts with unreadCount 0, sees the whole history, counts what comes next', async () => {
      const id = await group('n.o', ['n.m']);
      for (let i = 1; i <= 5; i++) await send(i % 2 ? 'n.o' : 'n.m', id, `old ${i}`);
      const res = await call('n.o', 'POST', `/conversations/${id}/participants`, { userId: 'n.new' });
      const me = res.body.participants.find((p: any) => p.userId === 'n.new');
      assert.equal(me.lastReadSeq, 5);
      const view = await call('n.new', 'GET', `/conversations/${id}`);
      assert.equal(view.status, 200);
      assert.equal(view.body.unreadCount, 0);
      assert.equal(view.body.lastSeq, 5);
      const history = await call('n.new', 'GET', `/conversations/${id}/messages`);
      assert.deepEqual(
        history.body.items.map((m: any) => m.seq),
        [5, 4, 3, 2, 1],
      );
      await send('n.m', id, 'new');
      assert.equal((await call('n.new', 'GET', `/conversations/${id}`)).body.unreadCount, 1);
      assert.equal(await bruteUnread(id, 'n.new'), 1);
      const list = await call('n.new', 'GET', '/conversations');
      assert.equal(list.body.items[0].id, id);
      assert.equal(list.body.items[0].unreadCount, 1);
    });

    it('five admins adding at once never pass 8 participants', async () => {
      const id = await group('c.o', ['c.1', 'c.2', 'c.3', 'c.4', 'c.5']);
      for (const u of ['c.1', 'c.2', 'c.3', 'c.4', 'c.5'])
        await call('c.o', 'PATCH', `/conversations/${id}/participants/${u}`, { role: 'admin' });
      const results = await Promise.all(
        ['c.1', 'c.2', 'c.3', 'c.4', 'c.5'].map((u, i) =>
          call(u, 'POST', `/conversations/${id}/participants`, { userId: `c.new${i}` }),
        ),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 200, 422, 422, 422]);
      for (const r of results.filter((x) => x.status === 422)) assertError(r, 422, 'LIMIT_EXCEEDED');
      const { rows } = await pg.query(
        `SELECT count(*)::int AS n FROM participants WHERE conversation_id = $1`,
        [id],
      );
      assert.equal(rows[0].n, 8);
    });

    it('refuses what the roles do not allow, and bad input, changing nothing', async () => {
      const id = await group('p.o', ['p.a', 'p.a2', 'p.m', 'p.m2']);
      await call('p.o', 'PATCH', `/conversations/${id}/participants/p.a`, { role: 'admin' });
      await call('p.o', 'PATCH', `/conversations/${id}/participants/p.a2`, { role: 'admin' });
      await call('p.o', 'POST', `/conversations/${id}/participants`, { userId: 'p.m3' });
      await call('p.o', 'POST', `/conversations/${id}/participants`, { userId: 'p.m4' });
      await call('p.o', 'POST', `/conversations/${id}/participants`, { userId: 'p.m5' });
      // Now 8: p.o (owner), p.a, p.a2 (admins), p.m .. p.m5 (members).
      const full = await group('p.o', ['p.m']);
      const add = (by: string, body: unknown, conv = id) =>
        call(by, 'POST', `/conversations/${conv}/participants`, body);
      const remove = (by: string, who: string, conv = id) =>
        call(by, 'DELETE', `/conversations/${conv}/participants/${who}`);
      const patch = (by: string, who: string, body: unknown, conv = id) =>
        call(by, 'PATCH', `/conversations/${conv}/participants/${who}`, body);
      // An admin adding an admin needs a group with room, where p.a is admin.
      const roomy = await group('p.o', ['p.a']);
      await patch('p.o', 'p.a', { role: 'admin' }, roomy);
      const before = await fingerprint();
      const cases: [string, () => Promise<Res>, number, string][] = [
        ['member adds', () => add('p.m', { userId: 'x1' }, full), 403, 'FORBIDDEN'],
        ['9th participant', () => add('p.o', { userId: 'x9' }), 422, 'LIMIT_EXCEEDED'],
        ['9th participant, by an admin', () => add('p.a', { userId: 'x9' }), 422, 'LIMIT_EXCEEDED'],
        ['admin adds an admin', () => add('p.a', { userId: 'x1', role: 'admin' }, roomy), 403, 'FORBIDDEN'],
        ['already a participant', () => add('p.o', { userId: 'p.m' }, full), 409, 'CONFLICT'],
        [
          'add with role owner',
          () => add('p.o', { userId: 'x1', role: 'owner' }, full),
          400,
          'VALIDATION_FAILED',
        ],
        ['add with bad user id', () => add('p.o', { userId: 'bad id' }, full), 400, 'VALIDATION_FAILED'],
        [
          'add with 65-char user id',
          () => add('p.o', { userId: 'u'.repeat(65) }, full),
          400,
          'VALIDATION_FAILED',
        ],
        ['add without user id', () => add('p.o', {}, full), 400, 'VALIDATION_FAILED'],
        [
          'add with unknown field',
          () => add('p.o', { userId: 'x1', note: 1 }, full),
          400,
          'VALIDATION_FAILED',
        ],
        ['non-participant adds', () => add('p.out', { userId: 'x1' }, full), 404, 'NOT_FOUND'],
        ['add to unknown conversation', () => add('p.o', { userId: 'x1' }, randomUUID()), 404, 'NOT_FOUND'],
        ['add to malformed id', () => add('p.o', { userId: 'x1' }, 'nope'), 400, 'VALIDATION_FAILED'],
        ['member patches', () => patch('p.m', 'p.m2', { role: 'admin' }), 403, 'FORBIDDEN'],
        ['admin patches', () => patch('p.a', 'p.m', { role: 'admin' }), 403, 'FORBIDDEN'],
        ['admin patches self', () => patch('p.a', 'p.a', { role: 'member' }), 403, 'FORBIDDEN'],
        ['owner patches self', () => patch('p.o', 'p.o', { role: 'member' }), 403, 'FORBIDDEN'],
        ['patch to owner', () => patch('p.o', 'p.m', { role: 'owner' }), 400, 'VALIDATION_FAILED'],
        ['patch without role', () => patch('p.o', 'p.m', {}), 400, 'VALIDATION_FAILED'],
        ['patch unknown participant', () => patch('p.o', 'nobody', { role: 'admin' }), 404, 'NOT_FOUND'],
        ['non-participant patches', () => patch('p.out', 'p.m', { role: 'admin' }), 404, 'NOT_FOUND'],
        ['patch bad user id', () => patch('p.o', 'bad%20id', { role: 'admin' }), 400, 'VALIDATION_FAILED'],
        ['patch NUL user id', () => patch('p.o', 'a%00b', { role: 'admin' }), 400, 'VALIDATION_FAILED'],
        ['admin removes owner', () => remove('p.a', 'p.o'), 403, 'FORBIDDEN'],
        ['admin removes admin', () => remove('p.a', 'p.a2'), 403, 'FORBIDDEN'],
        ['member removes member', () => remove('p.m', 'p.m2'), 403, 'FORBIDDEN'],
        ['member removes owner', () => remove('p.m', 'p.o'), 403, 'FORBIDDEN'],
        ['remove unknown participant', () => remove('p.o', 'nobody'), 404, 'NOT_FOUND'],
        ['non-participant removes', () => remove('p.out', 'p.m'), 404, 'NOT_FOUND'],
        ['non-participant leaves', () => remove('p.out', 'p.out'), 404, 'NOT_FOUND'],
        ['remove 65-char user id', () => remove('p.o', 'u'.repeat(65)), 400, 'VALIDATION_FAILED'],
        ['remove NUL user id', () => remove('p.o', 'a%00b'), 400, 'VALIDATION_FAILED'],
        ['remove from malformed id', () => remove('p.o', 'p.m', 'nope'), 400, 'VALIDATION_FAILED'],
      ];
      for (const [what, run, status, code] of cases) assertError(await run(), status, code, what);
      assert.equal(await fingerprint(), before);
    });
  });

  describe('get', () => {
    it('answers 404 for non-participants and unknown ids, 400 for malformed ids', async () => {
      const id = await group('get.o', ['get.m']);
      assert.equal((await call('get.m', 'GET', `/conversations/${id}`)).status, 200);
      assertError(await call('get.out', 'GET', `/conversations/${id}`), 404, 'NOT_FOUND');
      assertError(await call('get.o', 'GET', `/conversations/${randomUUID()}`), 404, 'NOT_FOUND');
      for (const bad of ['abc', '1', 'null', `${id.slice(0, -1)}g`])
        assertError(await call('get.o', 'GET', `/conversations/${bad}`), 400, 'VALIDATION_FAILED', bad);
    });
  });

  describe('chat list', () => {
    const me = 'list.me';
    const peers = Array.from({ length: 25 }, (_, i) => `list.p${String(i).padStart(2, '0')}`);
    const ids: string[] = [];

    before(async () => {
      for (const p of peers) {
        const res = await create(me, { type: 'direct', participantIds: [p] });
        ids.push(res.body.id);
      }
      // Activity in a shuffled order, some from me, some to me.
      const order = ids.map((id, i) => ({ id, i, k: (i * 7) % 25 })).sort((a, b) => a.k - b.k);
      for (const { id, i } of order) {
        await send(i % 3 ? peers[i]! : me, id, `to ${i}`);
        if (i % 4 === 0) await send(peers[i]!, id, `more ${i}`);
      }
    });

    it('visits each conversation exactly once over pages of 10, most recent activity first', async () => {
      const seen: any[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor ? `?limit=10&cursor=${encodeURIComponent(cursor)}` : '?limit=10';
        const res = await call(me, 'GET', `/conversations${q}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(Object.keys(res.body).sort(), ['items', 'nextCursor']);
        seen.push(...res.body.items);
        cursor = res.body.nextCursor;
        pages++;
        assert.equal(res.body.items.length, pages < 3 ? 10 : 5);
      } while (cursor !== null);
      assert.equal(pages, 3);
      assert.equal(seen.length, 25);
      assert.deepEqual(new Set(seen.map((c) => c.id)), new Set(ids));
      for (let i = 1; i < seen.length; i++)
        assert.ok(
          Date.parse(seen[i - 1].lastActivityAt) >= Date.parse(seen[i].lastActivityAt),
          `order at ${i}`,
        );
      const { rows } = await pg.query(
        `SELECT conversation_id FROM participants WHERE user_id = $1 ORDER BY last_activity_at DESC, conversation_id DESC`,
        [me],
      );
      assert.deepEqual(
        seen.map((c) => c.id),
        rows.map((r) => r.conversation_id),
      );
      for (const c of seen) {
        assert.deepEqual(Object.keys(c).sort(), CONVERSATION_KEYS);
        assert.ok(c.lastSeq >= 1);
        assert.equal(c.lastMessage.seq, c.lastSeq);
        assert.equal(c.lastMessage.conversationId, c.id);
        assert.equal(c.lastActivityAt, c.lastMessage.createdAt);
        assert.equal(c.unreadCount, await bruteUnread(c.id, me));
        assert.equal(c.participants.length, 2);
        for (const p of c.participants) {
          assert.deepEqual(Object.keys(p.profile).sort(), ['avatarUrl', 'displayName']);
          assert.equal(typeof p.profile.displayName, 'string');
          assert.ok(p.profile.avatarUrl === null || typeof p.profile.avatarUrl === 'string');
        }
      }
      assert.ok(seen.some((c) => c.unreadCount > 0) && seen.some((c) => c.unreadCount === 0));
      // The default page is 20.
      const first = await call(me, 'GET', '/conversations');
      assert.equal(first.body.items.length, 20);
      assert.notEqual(first.body.nextCursor, null);
      // limit=100 holds all, and no next page.
      const all = await call(me, 'GET', '/conversations?limit=100');
      assert.equal(all.body.items.length, 25);
      assert.equal(all.body.nextCursor, null);
      const exact = await call(me, 'GET', '/conversations?limit=25');
      assert.equal(exact.body.nextCursor, null, 'an exactly full last page has no next cursor');
    });

    it('a new message moves its conversation to the top, for both sides', async () => {
      const all = (await call(me, 'GET', '/conversations?limit=100')).body.items;
      const oldest = all[all.length - 1];
      const peer = oldest.participants.find((p: any) => p.userId !== me).userId;
      await send(peer, oldest.id, 'bump');
      const top = (await call(me, 'GET', '/conversations?limit=1')).body;
      assert.equal(top.items[0].id, oldest.id);
      assert.equal(top.items[0].lastMessage.content.text, 'bump');
      assert.equal((await call(peer, 'GET', '/conversations?limit=1')).body.items[0].id, oldest.id);
    });

    it('refuses bad limits and malformed cursors with VALIDATION_FAILED', async () => {
      const uuid = randomUUID();
      const cursors: [string, string][] = [
        ['abc', 'abc'],
        ['base64 of garbage', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x12]).toString('base64url')],
        ['base64 of text', Buffer.from('hello world').toString('base64url')],
        ['padded base64', Buffer.from('["1","x"]').toString('base64')],
        ['SQL in the position', b64(["1'; DROP TABLE participants; --", uuid])],
        ['SQL in the id', b64(['1700000000000000', `${uuid}' OR '1'='1`])],
        ['SQL as the cursor', "'; DROP TABLE conversations; --"],
        ['an object', b64({ activityUs: '1', conversationId: uuid })],
        ['three parts', b64(['1', uuid, 'x'])],
        ['one part', b64(['1'])],
        ['numbers', b64([1700000000000000, uuid])],
        ['negative position', b64(['-1', uuid])],
        ['fractional position', b64(['1.5', uuid])],
        ['position past bigint', b64(['99999999999999999999', uuid])],
        ['position past every timestamp', b64(['9223372036854775807', uuid])],
        ['id not a uuid', b64(['1700000000000000', 'not-a-uuid'])],
        ['too long', 'A'.repeat(600)],
      ];
      const queries = [
        '?limit=0',
        '?limit=101',
        '?limit=abc',
        '?limit=-5',
        '?limit=2.5',
        '?limit=',
        '?sort=asc',
        ...cursors.map(([, c]) => `?cursor=${encodeURIComponent(c)}`),
        `?cursor=${encodeURIComponent(b64(['1', uuid]))}&cursor=x`,
      ];
      const before = await fingerprint();
      for (const q of queries)
        assertError(await call(me, 'GET', `/conversations${q}`), 400, 'VALIDATION_FAILED', q);
      assert.equal(await fingerprint(), before);
      // A well-formed cursor of any position is just a position.
      const far = await call(me, 'GET', `/conversations?cursor=${b64(['1', uuid])}`);
      assert.deepEqual(far.body, { items: [], nextCursor: null });
      const future = await call(
        me,
        'GET',
        `/conversations?limit=100&cursor=${b64(['4102444800000000', uuid])}`,
      );
      assert.equal(future.body.items.length, 25);
    });

    it('is empty for a user with no conversation, and needs a token', async () => {
      assert.deepEqual((await call('list.nobody', 'GET', '/conversations')).body, {
        items: [],
        nextCursor: null,
      });
      assertError(await http(app.url, 'GET', '/conversations'), 401, 'UNAUTHENTICATED');
    });
  });
});
