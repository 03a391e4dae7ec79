import type { IncomingMessage, ServerResponse } from 'node:http';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Server, ServerOptions } from 'socket.io';
import { TokenVerifier } from '../auth/token-verifier';
import { logLimit } from '../common/log-limit';
import { requestIdFor } from '../common/request-id';
import type { AppConfig } from '../config/env';
import { handlePublishFailures } from '../state/redis-publish';
import { RedisService } from '../state/redis.service';
import { socketAuthMiddleware } from './socket-auth';

/** The id each of Socket.IO's HTTP requests is answered with: set on arrival, repeated in Engine.IO's 'headers'. */
const requestIds = new WeakMap<IncomingMessage, string>();

/** Largest Socket.IO frame accepted; a larger one closes that connection only (CONTRACT §4: at least 64 KB). */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * Socket.IO with the handshake authentication, the frame cap, CORS from configuration and,
 * when Redis is configured, the Redis adapter so that a room emit reaches every instance.
 */
export class ChatIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
  ) {
    super(app);
    this.verifier = app.get(TokenVerifier);
    this.redis = app.get(RedisService);
  }

  private readonly verifier: TokenVerifier;
  private readonly redis: RedisService;
  private readonly log = new Logger('SocketIo');

  override createIOServer(port: number, options?: ServerOptions): Server {
    const origins = this.config.CORS_ORIGINS;
    const server: Server = super.createIOServer(port, {
      ...options,
      path: options?.path ?? '/socket.io',
      maxHttpBufferSize: MAX_FRAME_BYTES,
      cors: { origin: origins.length ? origins : true, credentials: true },
    } as ServerOptions);
    if (this.redis.client) {
      // The adapter does not handle its publishes' promises: a failed one is logged here instead of
      // being an unhandled rejection (at shutdown, the last disconnects are announced after the
      // connection closed). With Redis down every room emit fails: one line per 10 s says how many.
      const limit = logLimit(1, 10_000);
      const pub = handlePublishFailures(this.redis.duplicate('io-pub'), (err) =>
        limit((leftOut) =>
          this.log.warn(
            { err: err instanceof Error ? err.message : String(err), failed: leftOut + 1 },
            'Socket.IO adapter: publishes to the other instances failed',
          ),
        ),
      );
      server.adapter(
        createAdapter(pub, this.redis.duplicate('io-sub', { subscriber: true }), {
          key: this.redis.key('socket.io'),
        }),
      );
    }
    // Every response carries x-request-id (CONTRACT §0), Socket.IO's own included, which Engine.IO
    // answers before Express: the polling transport's requests, its refusals (400, 403) and CORS
    // preflights get it here, ahead of Engine.IO's own listener; the WebSocket upgrade from its
    // 'headers' event (which the polling answers fire too: same id).
    const path = `${(options?.path ?? '/socket.io').replace(/\/$/, '')}/`;
    this.httpServer?.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!req.url?.startsWith(path)) return;
      const id = requestIdFor(req.headers['x-request-id']);
      requestIds.set(req, id);
      res.setHeader('x-request-id', id);
    });
    server.engine.on('headers', (headers: Record<string, string>, req: IncomingMessage) => {
      headers['x-request-id'] = requestIds.get(req) ?? requestIdFor(req.headers['x-request-id']);
    });
    server.use(socketAuthMiddleware(this.verifier, this.config.SOCKET_ECHO));
    return server;
  }
}
