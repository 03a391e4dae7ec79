import type Redis from 'ioredis';

/**
 * SUBSCRIBE, issued only when ioredis can take it safely. ioredis 5 writes a SUBSCRIBE that comes
 * while a connection is in its handshake (status `connect`: CLIENT SETNAME, then the INFO ready
 * check) straight to the socket; its reply puts the connection in subscriber mode, the ready check
 * is then refused ("Connection in subscriber mode"), and the reconnect that follows does not restore
 * the subscription, although the call resolved (redis/ioredis#2037, fixed in ioredis 6). Before the
 * handshake the command waits in the offline queue, and after it the connection is ready: both are
 * safe, so this waits out the handshake only.
 */
export async function subscribeSafely(conn: Redis, ...channels: string[]): Promise<void> {
  while (conn.status === 'connect') {
    await new Promise<void>((resolve) => {
      const done = () => {
        conn.off('ready', done);
        conn.off('close', done);
        resolve();
      };
      conn.once('ready', done);
      conn.once('close', done);
    });
  }
  await conn.subscribe(...channels);
}
