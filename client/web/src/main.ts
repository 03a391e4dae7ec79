import './style.css';
import { ChatApp } from './app';
import { fill, h } from './dom';
import { claims, forgetToken, storedToken, storeToken } from './session';

const root = document.getElementById('root')!;
let app: ChatApp | null = null;

/** Sign in with a token: in development, `npm run token -- <userId>` prints one. */
function signIn(message = ''): void {
  app?.close();
  app = null;
  const token = h('textarea', {
    name: 'token',
    rows: 5,
    placeholder: 'eyJhbGciOi…',
    required: true,
    'data-testid': 'token',
  });
  const error = h('p', { class: 'error', 'data-testid': 'sign-in-error' }, message);
  fill(
    root,
    h(
      'main',
      { class: 'sign-in' },
      h('h1', {}, 'Chat'),
      h(
        'form',
        {
          onsubmit: (e: Event) => {
            e.preventDefault();
            const value = token.value.trim();
            if (!claims(value)) {
              error.textContent = 'That is not a JWT.';
              return;
            }
            storeToken(value);
            start(value);
          },
        },
        h('label', {}, 'Token', token),
        h(
          'p',
          { class: 'hint' },
          'In development: ',
          h('code', {}, 'npm run token -- alice'),
          ' prints one.',
        ),
        h('button', { type: 'submit', 'data-testid': 'sign-in' }, 'Sign in'),
        error,
      ),
    ),
  );
}

/** Shown when the session expired: resolves with the token pasted in. */
function askToken(): Promise<string> {
  return new Promise((resolve) => {
    const token = h('textarea', { rows: 4, required: true, 'data-testid': 'refresh-token' });
    const dialog = h(
      'dialog',
      { class: 'refresh' },
      h(
        'form',
        {
          method: 'dialog',
          onsubmit: () => {
            const value = token.value.trim();
            storeToken(value);
            dialog.remove();
            resolve(value);
          },
        },
        h('p', {}, 'Your session expired. Paste a new token to carry on.'),
        token,
        h('button', { type: 'submit' }, 'Continue'),
      ),
    );
    document.body.append(dialog);
    dialog.showModal();
  });
}

function start(token: string): void {
  const who = claims(token)!;
  if (who.exp && who.exp * 1000 < Date.now()) return signIn('That token has expired.');
  app = new ChatApp(root, token, who.sub, {
    admin: who.roles.includes('admin'),
    askToken,
    onSignOut: () => {
      forgetToken();
      signIn();
    },
  });
  app.client.on('error', (err) => {
    if (err instanceof Error && 'code' in err && err.code === 'UNAUTHENTICATED') {
      forgetToken();
      signIn('The server refused that token.');
    }
  });
}

const saved = storedToken();
if (saved && claims(saved)) start(saved);
else signIn();
