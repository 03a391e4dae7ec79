// `npm run screenshots`: boots the service (a fresh database on the test PostgreSQL, as the tests
// do), plays a short scene in Chromium and saves the web client's main screens to docs/screenshots/.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { http, testWorld, token } from '../test/support/app';
import { buildWebApp, chatItem, launchBrowser, send, signIn, startConversation } from '../test/support/web';

const OUT = path.resolve(__dirname, '../docs/screenshots');

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  buildWebApp();
  const world = await testWorld();
  const browser = await launchBrowser();
  try {
    const app = await world.start();
    const api = async (user: string, method: string, url: string, body?: unknown, admin = false) => {
      const res = await http(app.url, method, url, { token: await token(user, { admin }), body });
      if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    };
    const shot = async (page: Page, name: string) => {
      await page.waitForTimeout(300); // let the last events render
      await page.screenshot({ path: path.join(OUT, `${name}.png`) });
      console.log(`docs/screenshots/${name}.png`);
    };
    const context = () => browser.newContext({ viewport: { width: 1200, height: 720 } });
    const left = await context();
    const right = await context();

    // Sign-in screen.
    const alice = await left.newPage();
    await alice.goto(`${app.url}/app/`);
    await alice.getByTestId('token').fill((await token('alice')).slice(0, 120) + '…');
    await shot(alice, 'sign-in');

    // Alice's chat list: a direct chat and a group, with unread messages.
    await signIn(alice, app.url, await token('alice'));
    await startConversation(alice, 'direct', 'bob');
    await send(alice, 'Are we still on for Saturday?');
    await startConversation(alice, 'group', 'bob, carol', 'Weekend trip');
    await send(alice, 'I booked the cabin!');
    const trip = (await api('alice', 'GET', '/conversations')).items.find(
      (c: { title: string | null }) => c.title === 'Weekend trip',
    );
    for (const [who, text] of [
      ['carol', 'Amazing! Who brings the board games?'],
      ['bob', 'Me. And the coffee.'],
      ['carol', 'Perfect, see you at 9'],
    ])
      await api(who!, 'POST', `/conversations/${trip.id}/messages`, {
        clientMessageId: `trip-${text!.length}-${who}`,
        content: { text },
      });
    // Presence is announced when it changes, to users who share a conversation: Bob comes online
    // after Alice wrote to him, so she sees him online (he does not know about her until she changes).
    const bob = await right.newPage();
    await signIn(bob, app.url, await token('bob'));
    await chatItem(alice, 'Bob').click();
    await alice.locator('.conv-header [data-status="online"]').waitFor();
    await chatItem(bob, 'Alice').click();
    await send(bob, 'Yes! Leaving at 8 sharp.');
    await alice.locator('.msg.theirs', { hasText: 'Leaving at 8' }).waitFor();
    await bob.getByTestId('composer').pressSequentially('Should I bring', { delay: 20 });
    await alice.getByTestId('typing').filter({ hasText: 'typing' }).waitFor();
    await shot(alice, 'conversation');

    await bob.getByTestId('composer').fill('');
    await shot(bob, 'chat-list');

    // The group, with who-read-what.
    await chatItem(alice, 'Weekend trip').click();
    await alice.locator('.msg', { hasText: 'see you at 9' }).waitFor();
    await shot(alice, 'group');

    // Business chat: an admin opens "acme" around the clock with one agent; a customer writes in.
    const hours = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => ({
      day,
      open: '00:00',
      close: '24:00',
    }));
    await api('ops', 'PUT', '/businesses/acme', { timeZone: 'UTC', hours }, true);
    await api('ops', 'PUT', '/businesses/acme/agents/agent-ann', { capacity: 5 }, true);
    const ann = await left.newPage();
    await signIn(ann, app.url, await token('agent-ann'));
    const cy = await right.newPage();
    await signIn(cy, app.url, await token('customer-cy'));
    await startConversation(cy, 'business', 'acme');
    await chatItem(ann, 'Customer Cy').waitFor();
    await cy.reload(); // announces the customer's presence to the agent now that they share a conversation
    await cy.locator('[data-testid="connection"][data-state="connected"]').waitFor();
    await chatItem(cy, 'Acme').click();
    await cy.getByTestId('business-status').filter({ hasText: 'assigned' }).waitFor();
    await send(cy, 'Hi, my order #4411 has not arrived yet.');
    await chatItem(ann, 'Customer Cy').click();
    await ann.locator('.msg.theirs', { hasText: '#4411' }).waitFor();
    await send(ann, 'Sorry about that! Let me check with the courier.');
    await cy.locator('.msg.theirs', { hasText: 'courier' }).waitFor();
    await shot(cy, 'business-customer');
    await shot(ann, 'business-agent');
  } finally {
    await browser.close();
    await world.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
