/**
 * Groups concurrent work into batches without adding delay: a batch starts as soon as one of
 * `maxInFlight` slots is free, with everything that queued meanwhile (up to `maxBatch`). Under
 * light load every batch holds one item; under heavy load the batches grow and the round trips
 * per item fall.
 *
 * The queue is bounded, by length and by waiting time: past saturation new work is refused at once
 * (and work that waited too long is refused before it starts), instead of latency growing without
 * bound. Refused work was never started, so the caller can safely retry it.
 */
export class SendBatcher<In, Out> {
  private queue: {
    input: In;
    enqueuedAt: number;
    resolve: (out: Out) => void;
    reject: (err: unknown) => void;
  }[] = [];
  private inFlight = 0;

  constructor(
    private readonly run: (inputs: In[]) => Promise<(Out | Error)[]>,
    private readonly opts: {
      maxInFlight: number;
      maxBatch: number;
      maxQueue: number;
      maxWaitMs: number;
      overloaded: () => Error;
      now?: () => number;
    },
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  submit(input: In): Promise<Out> {
    if (this.queue.length >= this.opts.maxQueue) return Promise.reject(this.opts.overloaded());
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ input, enqueuedAt: this.now(), resolve, reject });
      this.pump();
    });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length) {
      const deadline = this.now() - this.opts.maxWaitMs;
      const batch = this.queue.splice(0, this.opts.maxBatch).filter((item) => {
        if (item.enqueuedAt >= deadline) return true;
        item.reject(this.opts.overloaded());
        return false;
      });
      if (!batch.length) continue;
      this.inFlight++;
      this.run(batch.map((b) => b.input))
        .then(
          (outs) =>
            batch.forEach((b, i) =>
              outs[i] instanceof Error ? b.reject(outs[i]) : b.resolve(outs[i] as Out),
            ),
          (err: unknown) => batch.forEach((b) => b.reject(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
