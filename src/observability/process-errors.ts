/**
 * What the process does with a promise rejection nobody handled.
 *
 * Node's default ends the process. Here it is logged as an error, with its stack, counted in
 * `chat_unhandled_rejections_total`, and the instance keeps serving. Such a rejection is a bug: a
 * side effect whose promise nobody awaited (a fan-out, a Redis command that the Socket.IO adapter
 * fires and forgets). What that side effect left undone stays undone, but ending the process would
 * disconnect every socket of the instance, and make all of them reconnect elsewhere at once, for
 * one failed side effect. The metric makes the bug visible (deploy/monitoring/alerts.yml,
 * `ChatUnhandledRejection`).
 *
 * A bug that rejects on every event must not flood the log: at most `LOG_PER_MINUTE` rejections a
 * minute are logged with their stacks; the rest are counted, and the next logged line says how many
 * were left out.
 *
 * An uncaught exception still ends the process (Node's default): that state cannot be trusted.
 */
import { logLimit } from '../common/log-limit';

export interface RejectionSink {
  error(fields: Record<string, unknown>, message: string): void;
}

const LOG_PER_MINUTE = 10;

/** Installs the handler; returns a function that removes it. Called once, by main.ts. */
export function keepServingOnUnhandledRejections(logger: RejectionSink, count: () => void): () => void {
  const onRejection = rejectionHandler(logger, count);
  process.on('unhandledRejection', onRejection);
  return () => process.off('unhandledRejection', onRejection);
}

/** The handler itself: counts every rejection, logs at most LOG_PER_MINUTE a minute. */
export function rejectionHandler(
  logger: RejectionSink,
  count: () => void,
  now: () => number = Date.now,
): (reason: unknown) => void {
  const limit = logLimit(LOG_PER_MINUTE, 60_000, now);
  return (reason) => {
    count();
    limit((suppressed) =>
      logger.error(
        {
          // pino's error serializer writes an Error's type, message and stack.
          err: reason instanceof Error ? reason : new Error(`non-Error rejection: ${String(reason)}`),
          ...(suppressed && { suppressedBefore: suppressed }),
        },
        'unhandled promise rejection (a bug: a promise nobody awaited); the instance keeps serving',
      ),
    );
  };
}
