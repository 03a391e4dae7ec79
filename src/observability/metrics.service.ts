import { Inject, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Db } from '../database/db';

/**
 * The service's Prometheus metrics, in a registry of its own per app instance
 * (so that tests can run several instances in one process).
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'chat_http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'chat_errors_total',
    help: 'Errors answered to clients, by transport and contract code',
    labelNames: ['transport', 'code'] as const,
    registers: [this.registry],
  });

  readonly unhandledRejections = new Counter({
    name: 'chat_unhandled_rejections_total',
    help: 'Promise rejections nobody handled (bugs; logged, and the instance keeps serving)',
    registers: [this.registry],
  });

  readonly socketConnections = new Gauge({
    name: 'chat_socket_connections',
    help: 'Socket.IO connections open on this instance',
    registers: [this.registry],
  });

  readonly messagesSent = new Counter({
    name: 'chat_messages_sent_total',
    help: 'Messages stored (retries of an existing clientMessageId not counted)',
    registers: [this.registry],
  });

  readonly messagesDelivered = new Counter({
    name: 'chat_messages_delivered_total',
    help: 'message:new events emitted to sockets of this instance',
    registers: [this.registry],
  });

  readonly socketEventDuration = new Histogram({
    name: 'chat_socket_event_duration_seconds',
    help: 'Time from receiving a client event to its ack (message:send: send to ack), by event and outcome',
    labelNames: ['event', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly rateLimited = new Counter({
    name: 'chat_rate_limited_total',
    help: 'Requests refused by a rate limit, by scope (socket message:send, REST)',
    labelNames: ['scope'] as const,
    registers: [this.registry],
  });

  readonly sendBatchSize = new Histogram({
    name: 'chat_send_batch_size',
    help: 'Sends written together in one transaction (the batched send path)',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200],
    registers: [this.registry],
  });

  readonly sendBatchDuration = new Histogram({
    name: 'chat_send_batch_duration_seconds',
    help: 'Time of one send batch in the database, from BEGIN to COMMIT',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly sendQueued = new Gauge({
    name: 'chat_send_queue_depth',
    help: 'Sends waiting for a free send lane',
    registers: [this.registry],
  });

  constructor(@Inject(Db) db: Db) {
    collectDefaultMetrics({ register: this.registry, prefix: 'chat_' });
    const pool = (name: string, help: string, pick: (s: ReturnType<Db['poolStats']>) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(pick(db.poolStats()));
        },
      });
    pool('chat_db_pool_connections', 'PostgreSQL pool connections (primary)', (s) => s.total);
    pool('chat_db_pool_idle', 'Idle PostgreSQL pool connections (primary)', (s) => s.idle);
    pool('chat_db_pool_waiting', 'Queries waiting for a PostgreSQL connection (primary)', (s) => s.waiting);
  }
}
