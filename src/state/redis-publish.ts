import type Redis from 'ioredis';

/**
 * Makes every PUBLISH on `conn` a handled promise: a failure goes to `onError`, and the caller still
 * gets the command's own promise. For the Socket.IO adapter's publishing connection: the adapter
 * publishes without waiting or catching (fire and forget, by design), so a publish that fails (Redis
 * down, or the connection already closed while the app shuts down and the last disconnects are
 * still announced) was an unhandled rejection, which ends a Node process by default.
 */
export function handlePublishFailures(conn: Redis, onError: (err: unknown) => void): Redis {
  const original = conn.publish as (...args: unknown[]) => Promise<unknown>;
  Object.defineProperty(conn, 'publish', {
    configurable: true,
    writable: true,
    value: (...args: unknown[]): Promise<unknown> => {
      const sent = original.apply(conn, args);
      sent.catch(onError);
      return sent;
    },
  });
  return conn;
}
