import type { Socket } from 'socket.io';
import type { AuthUser, TokenVerifier } from '../auth/token-verifier';
import { AppError } from '../common/errors';

export type AuthedSocket = Socket & { data: { user: AuthUser } };

/** Handshake middleware: `auth: { token }` must verify, or the connect fails with data.code UNAUTHENTICATED. */
export function socketAuthMiddleware(verifier: TokenVerifier) {
  return (socket: Socket, next: (err?: Error) => void): void => {
    const auth: unknown = socket.handshake.auth;
    const token = auth && typeof auth === 'object' ? (auth as { token?: unknown }).token : undefined;
    verifier.verify(token).then(
      (user) => {
        socket.data.user = user;
        next();
      },
      (err: unknown) => {
        const message = err instanceof AppError ? err.message : 'Unauthenticated';
        next(Object.assign(new Error(message), { data: { code: 'UNAUTHENTICATED', message } }));
      },
    );
  };
}

/** Largest delay setTimeout accepts (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Disconnects the socket at its token's `exp`, telling it why first. Returns the cancel function. */
export function scheduleExpiry(socket: AuthedSocket, now = Date.now()): () => void {
  let timer: NodeJS.Timeout;
  const arm = (from: number) => {
    const delay = Math.max(0, socket.data.user.exp * 1000 - from);
    // Timers hold at most ~24.8 days: a longer-lived token is re-armed when that much has passed.
    timer = setTimeout(
      () => {
        if (delay > MAX_TIMER_MS) return arm(Date.now());
        socket.emit('session:end', { reason: 'token_expired' });
        socket.disconnect(true);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    timer.unref();
  };
  arm(now);
  return () => clearTimeout(timer);
}
