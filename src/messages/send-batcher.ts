/**
 * Groups concurrent work into batches without adding delay, in `lanes` independent lanes: an item
 * goes to the lane `laneOf(item)` names, and a lane runs one batch at a time, starting as soon as
 * it is free, with everything that queued in it meanwhile (up to `maxBatch`). Under light load every
 * batch holds one item; under heavy load the batches grow and the round trips per item fall.
 *
 * Lanes are for work that locks: sends of one conversation always share a lane, so two batches in
 * flight never wait for each other's row locks (with shared slots instead, every batch of random
 * conversations overlaps every other, and they run one after another behind the locks).
 *
 * The queue is bounded, by length (over all lanes) and by waiting time: past saturation new work is
 * refused at once, instead of latency growing without bound. "Past saturation" is read off the
 * queue itself, CoDel-style: while the oldest waiting item has waited more than half of
 * `maxWaitMs`, new work is refused at submit (cheap, and the client learns at once), so what was
 * accepted still goes through within about `maxWaitMs`; work that nonetheless waited longer is
 * refused before it starts. Refused work was never started, so the caller can safely retry it.
 */
interface Item<In, Out> {
  input: In;
  enqueuedAt: number;
  resolve: (out: Out) => void;
  reject: (err: unknown) => void;
}

export interface SendBatcherOptions<In> {
  /** How many batches may run at once, one per lane. */
  lanes: number;
  /** The lane of an item, any integer (taken modulo `lanes`); without it, items go round-robin. */
  laneOf?: (input: In) => number;
  maxBatch: number;
  maxQueue: number;
  maxWaitMs: number;
  overloaded: () => Error;
  now?: () => number;
}

export class SendBatcher<In, Out> {
  private readonly lanes: { queue: Item<In, Out>[]; busy: boolean }[];
  private total = 0;
  private next = 0;

  constructor(
    private readonly run: (inputs: In[]) => Promise<(Out | Error)[]>,
    private readonly opts: SendBatcherOptions<In>,
  ) {
    this.lanes = Array.from({ length: Math.max(1, opts.lanes) }, () => ({ queue: [], busy: false }));
  }

  /** Items waiting (not yet in a running batch), over all lanes. */
  get queued(): number {
    return this.total;
  }

  submit(input: In): Promise<Out> {
    if (this.refusing) return Promise.reject(this.opts.overloaded());
    const lane = this.lanes[this.laneIndex(input)]!;
    return new Promise<Out>((resolve, reject) => {
      lane.queue.push({ input, enqueuedAt: this.now(), resolve, reject });
      this.total++;
      this.pump(lane);
    });
  }

  /** True while new work is refused (the queue is full, or its oldest item waited half of maxWaitMs). */
  get refusing(): boolean {
    return this.total >= this.opts.maxQueue || this.oldestWaitMs() > this.opts.maxWaitMs / 2;
  }

  /** How long the oldest waiting item (the head of some lane) has waited; 0 when none waits. */
  private oldestWaitMs(): number {
    if (!this.total) return 0;
    let oldest = Infinity;
    for (const lane of this.lanes)
      if (lane.queue.length) oldest = Math.min(oldest, lane.queue[0]!.enqueuedAt);
    return oldest === Infinity ? 0 : this.now() - oldest;
  }

  private laneIndex(input: In): number {
    const n = this.lanes.length;
    // Without laneOf, items are spread round-robin: no ordering or locking between them is implied.
    const k = this.opts.laneOf ? this.opts.laneOf(input) : this.next++;
    return ((k % n) + n) % n;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private pump(lane: { queue: Item<In, Out>[]; busy: boolean }): void {
    while (!lane.busy && lane.queue.length) {
      const taken = lane.queue.splice(0, this.opts.maxBatch);
      this.total -= taken.length;
      const deadline = this.now() - this.opts.maxWaitMs;
      const batch = taken.filter((item) => {
        if (item.enqueuedAt >= deadline) return true;
        item.reject(this.opts.overloaded());
        return false;
      });
      if (!batch.length) continue;
      lane.busy = true;
      this.run(batch.map((b) => b.input))
        .then(
          (outs) =>
            batch.forEach((b, i) =>
              outs[i] instanceof Error ? b.reject(outs[i]) : b.resolve(outs[i] as Out),
            ),
          (err: unknown) => batch.forEach((b) => b.reject(err)),
        )
        .finally(() => {
          lane.busy = false;
          this.pump(lane);
        });
    }
  }
}
