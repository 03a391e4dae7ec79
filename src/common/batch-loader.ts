/**
 * Coalesces lookups into one call: keys asked for in the same turn of the event loop are loaded
 * together (in chunks of `maxBatch`), and every caller gets its own key's value. Under a storm of
 * connects or disconnects this turns a query per socket into a query per turn, so the storm does
 * not queue the send path behind it for pool connections.
 */
export class BatchLoader<K, V> {
  private pending = new Map<K, { resolve: (v: V) => void; reject: (err: unknown) => void }[]>();
  private scheduled = false;

  constructor(
    private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>,
    private readonly opts: { maxBatch: number; missing: () => V },
  ) {}

  load(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const waiting = this.pending.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    const keys = [...batch.keys()];
    for (let i = 0; i < keys.length; i += this.opts.maxBatch) {
      const chunk = keys.slice(i, i + this.opts.maxBatch);
      this.loadMany(chunk).then(
        (values) => {
          for (const key of chunk) {
            const value = values.has(key) ? values.get(key)! : this.opts.missing();
            for (const w of batch.get(key)!) w.resolve(value);
          }
        },
        (err: unknown) => {
          for (const key of chunk) for (const w of batch.get(key)!) w.reject(err);
        },
      );
    }
  }
}
