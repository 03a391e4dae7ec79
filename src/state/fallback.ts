import { Logger } from '@nestjs/common';

/** How long a `both` method (a subscription) waits for Redis before going on without it. */
const PENDING_WAIT_MS = 3000;

/**
 * Graceful degradation for shared state: calls go to the Redis implementation while Redis is
 * ready, and to the in-process twin while it is not (or when a call fails), so the service keeps
 * working on one instance's view and recovers by itself when Redis returns. `both` lists methods
 * (subscriptions) that must be set up on both sides.
 */
export function withFallback<T extends object>(
  name: string,
  primary: T,
  fallback: T,
  healthy: () => boolean,
  both: (keyof T)[] = [],
): T {
  const logger = new Logger(`State:${name}`);
  let degraded = false;
  const note = (isDegraded: boolean, err?: unknown) => {
    if (degraded === isDegraded) return;
    degraded = isDegraded;
    if (isDegraded)
      logger.warn(
        { err: err instanceof Error ? err.message : undefined },
        'Redis unavailable: using in-process state',
      );
    else logger.log('Redis back: using shared state');
  };
  return new Proxy(primary, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (both.includes(prop as keyof T)) {
        return async (...args: unknown[]) => {
          await (fallback[prop as keyof T] as (...a: unknown[]) => Promise<unknown>).apply(fallback, args);
          const shared = value.apply(target, args) as Promise<unknown>;
          if (healthy()) return shared;
          // Redis is not (yet) ready, e.g. at boot: wait a moment for it, then let the fallback serve
          // and the shared side complete when Redis comes up (subscriber connections wait for it)
          // rather than keep the caller (the boot) waiting.
          let timer: NodeJS.Timeout | undefined;
          const done = await Promise.race([
            shared.then(
              () => true,
              (err: unknown) => {
                logger.warn(
                  { err: err instanceof Error ? err.message : String(err) },
                  `${String(prop)} on Redis failed`,
                );
                return true;
              },
            ),
            new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), PENDING_WAIT_MS))),
          ]);
          clearTimeout(timer);
          if (!done) logger.warn(`Redis not ready: ${String(prop)} completes when it is`);
          return undefined;
        };
      }
      return async (...args: unknown[]) => {
        const local = () =>
          (fallback[prop as keyof T] as (...a: unknown[]) => Promise<unknown>).apply(fallback, args);
        if (!healthy()) {
          note(true);
          return local();
        }
        try {
          const result = await value.apply(target, args);
          note(false);
          return result;
        } catch (err) {
          note(true, err);
          return local();
        }
      };
    },
  });
}
