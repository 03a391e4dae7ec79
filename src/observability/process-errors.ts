/**
 * What the process does with a promise rejection nobody handled.
 *
 * Node's default ends the process. Here it is logged as an error, with its stack, counted in
 * `chat_unhandled_rejections_total`, and the instance keeps serving. Such a rejection is a bug: a
 * side effect whose promise nobody awaited (a fan-out, a Redis command that the Socket.IO adapter
 * fires and forgets). But it leaves no half-done state in memory, the way a synchronous throw can.
 * Ending the process would disconnect every socket of the instance, and make all of them reconnect
 * elsewhere at once, for one failed side effect. The metric makes the bug visible
 * (deploy/monitoring/alerts.yml, `ChatUnhandledRejection`).
 *
 * An uncaught exception still ends the process (Node's default): that state cannot be trusted.
 */
export interface RejectionSink {
  error(fields: Record<string, unknown>, message: string): void;
}

/** Installs the handler; returns a function that removes it. Called once, by main.ts. */
export function keepServingOnUnhandledRejections(logger: RejectionSink, count: () => void): () => void {
  const onRejection = (reason: unknown) => {
    count();
    logger.error(
      // pino's error serializer writes an Error's type, message and stack.
      { err: reason instanceof Error ? reason : new Error(`non-Error rejection: ${String(reason)}`) },
      'unhandled promise rejection (a bug: a promise nobody awaited); the instance keeps serving',
    );
  };
  process.on('unhandledRejection', onRejection);
  return () => process.off('unhandledRejection', onRejection);
}
