import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const ROOT = path.resolve(__dirname, '../..');

/** The newest modification time of the files under `dir`. */
function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir).map((name) => {
      const full = path.join(dir, name);
      const stat = statSync(full);
      return stat.isDirectory() ? newest(full) : stat.mtimeMs;
    }),
  );
}

/**
 * Builds the web app into dist/web-app (what the service serves at /app), as `npm run build:web`
 * does, unless the build there is newer than every source of it.
 */
export function buildWebApp(): void {
  const built = path.join(ROOT, 'dist/web-app/index.html');
  const sources = Math.max(
    newest(path.join(ROOT, 'client/web')),
    newest(path.join(ROOT, 'client/src')),
    statSync(path.join(ROOT, 'client/vite.config.mts')).mtimeMs,
  );
  if (existsSync(built) && statSync(built).mtimeMs > sources) return;
  execFileSync(
    process.execPath,
    [path.join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'client/vite.config.mts'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

/** Debian's Chromium, headless, kept off the network (this machine has none beyond loopback). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Opens /app, pastes the token and waits until the socket is connected. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/app/`);
  await page.getByTestId('token').fill(token);
  await page.getByTestId('sign-in').click();
  await page.locator('[data-testid="connection"][data-state="connected"]').waitFor();
}

/** Starts a conversation from the sidebar form (`who`: a user id, comma-separated ids, or a business id). */
export async function startConversation(
  page: Page,
  kind: 'direct' | 'group' | 'business',
  who: string,
  title?: string,
): Promise<void> {
  const open = page.locator('.conversation');
  const previous = (await open.count()) ? await open.getAttribute('data-conversation-id') : null;
  await page.getByTestId('new-kind').selectOption(kind);
  if (title) await page.locator('input[name="title"]').fill(title);
  await page.getByTestId('new-who').fill(who);
  await page.getByRole('button', { name: 'Start' }).click();
  // The new conversation replaces the one that was open (if any).
  await page
    .locator(previous ? `.conversation:not([data-conversation-id="${previous}"])` : '.conversation')
    .waitFor();
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('send').click();
}

/** The chat-list entry whose title contains `title`. */
export function chatItem(page: Page, title: string) {
  return page.getByTestId('chat-item').filter({ has: page.locator('.chat-title', { hasText: title }) });
}

/** Collects Content-Security-Policy violations and page errors, to assert none happened. */
export function watchProblems(page: Page, into: string[]): void {
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text()))
      into.push(msg.text());
  });
  page.on('pageerror', (err) => into.push(String(err)));
}
