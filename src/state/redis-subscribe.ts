import type Redis from 'ioredis';

/** The commands that put a connection in subscriber mode. */
const SUBSCRIBING = ['subscribe', 'psubscribe', 'ssubscribe'] as const;

/**
 * Makes `conn`'s SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE wait out the connection's handshake, whoever
 * calls them (the fan-out channel, the Socket.IO adapter). ioredis 5 writes such a command that comes
 * while the connection is in its handshake (status `connect`: CLIENT SETNAME, then the INFO ready
 * check) straight to the socket; its reply puts the connection in subscriber mode, the ready check
 * is then refused ("Connection in subscriber mode"), and the reconnect that follows does not restore
 * the subscription, although the call resolved (redis/ioredis#2037, fixed in ioredis 6). Before the
 * handshake the command waits in the offline queue, and after it the connection is ready: both are
 * safe, so only the handshake is waited out.
 */
export function guardSubscriptions(conn: Redis): Redis {
  for (const name of SUBSCRIBING) {
    const original = conn[name] as (...args: unknown[]) => Promise<unknown>;
    Object.defineProperty(conn, name, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]): Promise<unknown> => {
        // Outside the handshake: the command as is (its own promise, same tick, same order).
        if (conn.status !== 'connect') return original.apply(conn, args);
        const later = handshakeOver(conn).then(() => original.apply(conn, args));
        // A caller that does not wait (the Socket.IO adapter), or hears of a failure through its
        // callback, must not leave an unhandled rejection behind (the connection closed meanwhile).
        later.catch(() => undefined);
        return later;
      },
    });
  }
  return conn;
}

function handshakeOver(conn: Redis): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      conn.off('ready', done);
      conn.off('close', done);
      resolve();
    };
    conn.once('ready', done);
    conn.once('close', done);
  });
}
