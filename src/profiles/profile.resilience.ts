import {
  BrokenCircuitError,
  BulkheadRejectedError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  bulkhead,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  wrap,
  type IPolicy,
} from 'cockatiel';
import type { ProfileRecord, ProfileSource } from './profile.types';

export interface ResilienceOptions {
  /** Per attempt. */
  timeoutMs: number;
  /** Calls in flight at once; more wait in a bounded queue, beyond which they fail at once. */
  concurrency?: number;
  queue?: number;
  /** Consecutive failures that open the breaker, and how long it stays open before one trial call. */
  failuresToOpen?: number;
  halfOpenAfterMs?: number;
  /** Attempts per call (1 = no retry); retries back off exponentially with decorrelated jitter. */
  attempts?: number;
}

/** The longest pause between two attempts. */
const MAX_BACKOFF_MS = 500;
/**
 * Beyond the attempts' own time: an attempt that times out does so before the budget runs out, so the
 * breaker counts it against the service (with a budget of exactly one timeout, the budget's timer,
 * set first, would always fire first, and a dead service would never open the breaker).
 */
const BUDGET_MARGIN_MS = 100;

/**
 * How long one call may take in all: its wait in the bulkhead's queue, every attempt and the pauses
 * between them. A queue of calls behind a slow service otherwise delays a chat list by as many rounds
 * of timeouts as are ahead of it.
 */
export function callBudgetMs(opts: Pick<ResilienceOptions, 'timeoutMs' | 'attempts'>): number {
  const attempts = Math.max(1, opts.attempts ?? 2);
  return attempts * opts.timeoutMs + (attempts - 1) * MAX_BACKOFF_MS + BUDGET_MARGIN_MS;
}

/** A call's budget ran out while it was being made: the caller gave up, not the service. */
export class BudgetSpentError extends Error {
  constructor() {
    super('the profile call ran out of its budget');
  }
}

/** Failures worth retrying: not our own refusals (open breaker, full bulkhead). */
const retryable = handleWhen(
  (err) => !(err instanceof BrokenCircuitError) && !(err instanceof BulkheadRejectedError),
);
/**
 * Failures the breaker counts against the service: those worth retrying, except a call cut by its
 * budget. Such a call may only have waited long in the queue (many lists at once), with the service
 * healthy; counting it would open the breaker and blank every profile for `halfOpenAfterMs`.
 */
const serviceFailure = handleWhen(
  (err) =>
    !(err instanceof BrokenCircuitError) &&
    !(err instanceof BulkheadRejectedError) &&
    !(err instanceof BudgetSpentError),
);

/**
 * The profile service behind cockatiel's policies: a bulkhead (bounded concurrent calls), a circuit
 * breaker (a failing service is not called for a while), retries with exponential backoff and
 * jitter, a timeout on each attempt that aborts the HTTP call, and a budget for the whole call
 * (`callBudgetMs`), queue wait included: a call still queued when it runs out is never made.
 */
export class ResilientProfileSource implements ProfileSource {
  /** The budget and the bulkhead, outside the breaker. */
  private readonly admission: IPolicy;
  /** Retries, each attempt under its timeout, inside the breaker. */
  private readonly attempts: IPolicy;
  readonly breaker;

  constructor(
    private readonly inner: { fetchBatch(ids: string[], signal?: AbortSignal): Promise<ProfileRecord[]> },
    opts: ResilienceOptions,
  ) {
    this.breaker = circuitBreaker(serviceFailure, {
      halfOpenAfter: opts.halfOpenAfterMs ?? 10_000,
      breaker: new ConsecutiveBreaker(opts.failuresToOpen ?? 5),
    });
    this.attempts = wrap(
      retry(retryable, {
        maxAttempts: Math.max(0, (opts.attempts ?? 2) - 1),
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: MAX_BACKOFF_MS }),
      }),
      timeout(opts.timeoutMs, TimeoutStrategy.Aggressive),
    );
    this.admission = wrap(
      timeout(callBudgetMs(opts), TimeoutStrategy.Aggressive),
      bulkhead(opts.concurrency ?? 8, opts.queue ?? 64),
    );
  }

  fetchBatch(ids: string[]): Promise<ProfileRecord[]> {
    return this.admission.execute(({ signal: budget }) =>
      this.breaker.execute(async ({ signal }) => {
        try {
          return await this.attempts.execute(
            ({ signal: attempt }) => this.inner.fetchBatch(ids, attempt),
            signal,
          );
        } catch (err) {
          // Whatever failed once the budget ran out was cut by it (the attempt's own timeout, the
          // aborted fetch): not the service's failure.
          throw budget.aborted ? new BudgetSpentError() : err;
        }
      }, budget),
    );
  }
}

export { BrokenCircuitError, BulkheadRejectedError, TaskCancelledError };
