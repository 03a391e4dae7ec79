import { Logger } from '@nestjs/common';
import {
  ConnectedSocket,
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
} from '@nestjs/websockets';
import { MetricsService } from '../observability/metrics.service';
import type { AckResult } from './events';
import { scheduleExpiry, type AuthedSocket } from './socket-auth';

/** The room every connection of a user joins: events for the user go to all their devices. */
export const userRoom = (userId: string) => `user:${userId}`;

@WebSocketGateway()
export class ChatGateway implements OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(ChatGateway.name);
  private readonly cancelExpiry = new WeakMap<AuthedSocket, () => void>();

  constructor(private readonly metrics: MetricsService) {}

  async handleConnection(socket: AuthedSocket): Promise<void> {
    this.metrics.socketConnections.inc();
    this.cancelExpiry.set(socket, scheduleExpiry(socket));
    await socket.join(userRoom(socket.data.user.id));
  }

  handleDisconnect(socket: AuthedSocket): void {
    this.metrics.socketConnections.dec();
    this.cancelExpiry.get(socket)?.();
  }

  @SubscribeMessage('presence:heartbeat')
  heartbeat(@ConnectedSocket() _socket: AuthedSocket): AckResult<Record<string, never>> {
    return { ok: true, data: {} };
  }
}
