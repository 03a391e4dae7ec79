import type { Socket } from 'socket.io';
import type { AuthUser, TokenVerifier } from '../auth/token-verifier';
import { AppError } from '../common/errors';

/**
 * `echo`: whether this connection gets `message:new` for a message it sent itself with an ack (its
 * ack carries the message either way).
 */
export type AuthedSocket = Socket & { data: { user: AuthUser; echo: boolean } };

/**
 * Handshake middleware: `auth: { token }` must verify, or the connect fails with data.code
 * UNAUTHENTICATED. `auth.echo` (optional boolean, an extension of the contract) chooses whether the
 * connection gets its own acked messages as `message:new` too; `defaultEcho` when absent.
 */
export function socketAuthMiddleware(verifier: TokenVerifier, defaultEcho = true) {
  return (socket: Socket, next: (err?: Error) => void): void => {
    const auth: unknown = socket.handshake.auth;
    const fields = auth && typeof auth === 'object' ? (auth as { token?: unknown; echo?: unknown }) : {};
    if (fields.echo !== undefined && typeof fields.echo !== 'boolean') {
      const message = 'auth.echo must be a boolean';
      return next(Object.assign(new Error(message), { data: { code: 'VALIDATION_FAILED', message } }));
    }
    const echo = fields.echo ?? defaultEcho;
    verifier.verify(fields.token).then(
      (user) => {
        socket.data.user = user;
        socket.data.echo = echo;
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
