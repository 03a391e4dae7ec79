// A promise rejection nobody handled (a bug) is logged and counted, and the instance keeps serving
// (src/observability/process-errors.ts): the real service as a child process, the bug simulated
// by a preload that rejects a promise on a signal (SIGWINCH).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectSocket, emitAck, http, token, TEST_REDIS_URL } from './support/app';
import { createTestDatabase, type TestDatabase } from './support/db';
import { Instance, until } from './support/processes';

const PRELOAD = path.join(__dirname, 'support', 'stray-rejection.cjs');

describe('a promise rejection nobody handled', () => {
  let db: TestDatabase;
  let instance: Instance;

  before(async () => {
    db = await createTestDatabase();
    instance = await Instance.start({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `tperr${randomBytes(4).toString('hex')}:`,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${PRELOAD}`.trim(),
    });
  });
  after(async () => {
    instance?.kill('SIGKILL');
    await instance?.exit;
    await db?.drop();
  });

  const rejections = async () => {
    const text = await (await fetch(`${instance.url}/metrics`)).text();
    return Number(/^chat_unhandled_rejections_total (\S+)$/m.exec(text)?.[1]);
  };

  it('is logged as an error with its stack and counted; the instance keeps serving sockets and REST', async () => {
    const alice = await connectSocket(instance.url, await token('perr.alice'));
    try {
      assert.equal(await rejections(), 0);
      instance.kill('SIGWINCH');
      await until(async () => (await rejections()) === 1, 'the rejection counted');
      instance.kill('SIGWINCH');
      await until(async () => (await rejections()) === 2, 'the second one counted');

      assert.ok(instance.running, `the instance exited:\n${instance.output.slice(-2000)}`);
      const line = instance.output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          // stdout and stderr are one stream here: a line may be cut by another's write.
          try {
            return [
              JSON.parse(l) as { level: number; msg: string; err?: { message: string; stack: string } },
            ];
          } catch {
            return [];
          }
        })
        .find((l) => l.msg.startsWith('unhandled promise rejection'));
      assert.ok(line, `no log line for the rejection:\n${instance.output.slice(-2000)}`);
      assert.equal(line.level, 50, 'logged as an error');
      assert.equal(line.err?.message, 'stray rejection from the test');
      assert.match(line.err?.stack ?? '', /stray-rejection\.cjs/);

      // Still serving: the socket connected before works, and REST answers.
      const created = await http(instance.url, 'POST', '/conversations', {
        token: await token('perr.alice'),
        body: { type: 'direct', participantIds: ['perr.bob'] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const ack = await emitAck(alice, 'message:send', {
        conversationId: created.body.id,
        clientMessageId: randomBytes(8).toString('hex'),
        content: { text: 'still here' },
      });
      assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.ok(alice.connected);
    } finally {
      alice.close();
    }
  });
});
