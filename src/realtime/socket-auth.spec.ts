import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Socket } from 'socket.io';
import { signDevToken } from '../auth/dev-token';
import { TokenVerifier } from '../auth/token-verifier';
import { socketAuthMiddleware } from './socket-auth';

const SECRET = 'unit-test-secret-0123456789abcdef';
const verifier = new TokenVerifier({ secret: SECRET });

/** Runs the handshake middleware on a socket with this `auth`: the socket's data, or the refusal. */
async function handshake(auth: unknown, defaultEcho: boolean) {
  const socket = { handshake: { auth }, data: {} } as unknown as Socket;
  const err = await new Promise<(Error & { data?: { code: string } }) | undefined>((resolve) =>
    socketAuthMiddleware(verifier, defaultEcho)(socket, resolve),
  );
  return { err, data: socket.data as { user?: { id: string }; echo?: boolean } };
}

describe('socketAuthMiddleware: auth.echo', () => {
  it('takes the configured default when the handshake does not say, and the handshake’s choice when it does', async () => {
    const token = await signDevToken('ann', { secret: SECRET });
    for (const defaultEcho of [true, false]) {
      const plain = await handshake({ token }, defaultEcho);
      assert.equal(plain.err, undefined);
      assert.equal(plain.data.user?.id, 'ann');
      assert.equal(plain.data.echo, defaultEcho);
      for (const echo of [true, false])
        assert.equal((await handshake({ token, echo }, defaultEcho)).data.echo, echo);
    }
  });

  it('refuses a non-boolean echo with VALIDATION_FAILED, before looking at the token', async () => {
    for (const echo of ['false', 0, null, {}]) {
      const { err, data } = await handshake({ token: 'not even a token', echo }, true);
      assert.equal(err?.data?.code, 'VALIDATION_FAILED', String(echo));
      assert.equal(data.user, undefined);
    }
  });
});
