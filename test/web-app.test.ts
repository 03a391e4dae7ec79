// The web client (client/web, served at /app) in a real browser: Debian's Chromium driven by
// playwright-core. Two users chat in two browser contexts and see typing, presence and read
// receipts; the unread badge clears in one tab when the same user reads in another; a customer's
// business chat gets an agent; history loads as the user scrolls up. No CSP violation, no page error.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { http, testWorld, token, type TestApp } from './support/app';
import {
  buildWebApp,
  chatItem,
  launchBrowser,
  send,
  signIn,
  startConversation,
  watchProblems,
} from './support/web';

describe('web client in Chromium', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  let browser: Browser;
  /** Two browsers' worth of state ("devices"); users get pages (tabs) in them. */
  let left: BrowserContext;
  let right: BrowserContext;
  let alice: Page;
  let dave1: Page;
  const problems: string[] = [];

  before(async () => {
    buildWebApp();
    world = await testWorld({ redis: true });
    app = await world.start();
    browser = await launchBrowser();
    left = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    right = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    for (const c of [left, right]) c.setDefaultTimeout(15_000);
  });
  after(async () => {
    await browser?.close(); // closes its contexts
    await world?.close();
  });

  /** A tab signed in as `userId` (the token is kept per tab, so one context holds several users). */
  async function user(userId: string, context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    watchProblems(page, problems);
    await signIn(page, app.url, await token(userId));
    return page;
  }

  it('serves the app at /app with a strict content security policy', async () => {
    const res = await fetch(`${app.url}/app/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<div id="root">/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  });

  it('two users chat: messages both ways, presence, typing and read receipts', async () => {
    alice = await user('alice', left);
    await startConversation(alice, 'direct', 'bob');
    await alice.getByTestId('conversation-title').filter({ hasText: 'Bob' }).waitFor();

    const bob = await user('bob', right);
    // Bob came online: Alice shares a conversation with him, so she is told.
    await alice.locator('.conv-header [data-testid="presence"][data-status="online"]').waitFor();

    await send(alice, 'hello bob');
    await alice.locator('.msg.mine[data-seq="1"]').waitFor();
    const item = chatItem(bob, 'Alice');
    await item.getByTestId('unread').filter({ hasText: '1' }).waitFor();
    await item.click();
    await bob.locator('.msg.theirs', { hasText: 'hello bob' }).waitFor();
    // Alice was online before Bob signed in: no event told him, the SDK's presence snapshot did.
    await bob.locator('.conv-header [data-testid="presence"][data-status="online"]').waitFor();
    // Bob read it: Alice's message shows the receipt.
    await alice.locator('.msg.mine[data-seq="1"] .receipt[data-read="true"]').waitFor();
    assert.equal(await item.getByTestId('unread').count(), 0, 'no badge once read');

    await bob.getByTestId('composer').pressSequentially('typing away', { delay: 10 });
    await alice.getByTestId('typing').filter({ hasText: 'Bob is typing' }).waitFor();
    await bob.getByTestId('send').click();
    await alice.locator('.msg.theirs', { hasText: 'typing away' }).waitFor();
    await alice.getByTestId('typing').filter({ hasText: /^$/ }).waitFor();

    const texts = await alice.locator('.msg .bubble').allTextContents();
    assert.deepEqual(texts, ['hello bob', 'typing away']);

    // Bob closes his tab: Alice sees him go offline.
    await bob.close();
    await alice.locator('.conv-header [data-testid="presence"][data-status="offline"]').waitFor();
  });

  it('the unread badge clears in one tab when the same user reads in another', async () => {
    dave1 = await user('dave', right);
    const dave2 = await user('dave', right);
    await startConversation(alice, 'direct', 'dave');
    await send(alice, 'ping');
    await send(alice, 'are you there?');
    for (const tab of [dave1, dave2])
      await chatItem(tab, 'Alice').getByTestId('unread').filter({ hasText: '2' }).waitFor();

    await chatItem(dave2, 'Alice').click();
    await dave2.locator('.msg.theirs', { hasText: 'are you there?' }).waitFor();
    await chatItem(dave1, 'Alice').getByTestId('unread').waitFor({ state: 'detached' });
    assert.equal(await dave1.locator('.conversation').count(), 0, 'the first tab did not open it');
  });

  it('a customer opens a business chat and gets an agent, who answers and resolves it', async () => {
    const admin = await token('ops', { admin: true });
    const hours = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => ({
      day,
      open: '00:00',
      close: '24:00',
    }));
    const put = await http(app.url, 'PUT', '/businesses/acme', {
      token: admin,
      body: { timeZone: 'UTC', hours },
    });
    assert.ok([200, 201].includes(put.status), JSON.stringify(put.body));
    const agent = await http(app.url, 'PUT', '/businesses/acme/agents/agent-ann', {
      token: admin,
      body: { capacity: 5 },
    });
    assert.ok([200, 201].includes(agent.status), JSON.stringify(agent.body));

    const ann = await user('agent-ann', left);
    const cust = await user('customer-cy', right);
    await startConversation(cust, 'business', 'acme');
    await cust.getByTestId('business-status').filter({ hasText: 'assigned' }).waitFor();
    await cust.getByTestId('conversation-subtitle').filter({ hasText: 'with Agent Ann' }).waitFor();
    await cust.locator('.msg.system').first().waitFor();

    // The agent's side: the conversation appears, titled with the customer's name.
    const item = chatItem(ann, 'Customer Cy');
    await item.click();
    await ann.getByTestId('business-status').filter({ hasText: 'assigned' }).waitFor();
    await send(ann, 'Hi, how can I help?');
    await cust.locator('.msg.theirs', { hasText: 'how can I help' }).waitFor();
    await send(cust, 'Where is my order?');
    await ann.locator('.msg.theirs', { hasText: 'Where is my order?' }).waitFor();

    await ann.getByTestId('resolve').click();
    await cust.getByTestId('business-status').filter({ hasText: 'resolved' }).waitFor();
  });

  it('loads older history as the user scrolls up', async () => {
    const erin = await token('erin');
    const created = await http(app.url, 'POST', '/conversations', {
      token: erin,
      body: { type: 'direct', participantIds: ['dave'] },
    });
    const id = created.body.id as string;
    const N = 75; // a page and a half: one scroll up loads the rest
    for (let i = 1; i <= N; i += 15)
      await Promise.all(
        Array.from({ length: 15 }, (_, k) =>
          http(app.url, 'POST', `/conversations/${id}/messages`, {
            token: erin,
            body: { clientMessageId: `h-${i + k}`, content: { text: `h${i + k}` } },
          }),
        ),
      );

    // Dave's first tab has been open all along: the new conversation came in over the socket.
    const dave = dave1;
    await chatItem(dave, 'Erin').click();
    await dave.locator(`.msg[data-seq="${N}"]`).waitFor();
    const list = dave.getByTestId('messages');
    assert.ok((await list.locator('.msg').count()) < N, 'only the newest page at first');
    while (!(await list.locator('.msg[data-seq="1"]').count())) {
      const before = await list.locator('.msg').count();
      await list.evaluate((el) => (el.scrollTop = 0));
      await list.locator('.msg').nth(before).waitFor(); // more rows than before
    }
    const seqs = await list
      .locator('.msg')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    assert.deepEqual(
      seqs,
      Array.from({ length: N }, (_, i) => i + 1),
      'every message once, oldest first',
    );
  });

  it('no content security policy violation and no page error happened', () => {
    assert.deepEqual(problems, []);
  });
});
