/** The signed-in user's token, kept per tab (sessionStorage) so that two tabs can be two users. */
const KEY = 'chat.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** The claims the app shows (the server verifies the token; the app only reads it). */
export function claims(token: string): { sub: string; roles: string[]; exp: number } | null {
  try {
    const part = token.split('.')[1];
    if (!part) return null;
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const payload = JSON.parse(json) as { sub?: unknown; roles?: unknown; exp?: unknown };
    if (typeof payload.sub !== 'string') return null;
    return {
      sub: payload.sub,
      roles: Array.isArray(payload.roles) ? payload.roles.filter((r) => typeof r === 'string') : [],
      exp: typeof payload.exp === 'number' ? payload.exp : 0,
    };
  } catch {
    return null;
  }
}
