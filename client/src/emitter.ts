/** A minimal typed event emitter (the SDK runs in browsers and Node alike). */
export class Emitter<Events extends { [K in keyof Events]: (payload: any) => void }> {
  private readonly listeners = new Map<keyof Events, Set<(payload: any) => void>>();

  /** Adds a listener; returns the function that removes it. */
  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  protected emit<E extends keyof Events>(event: E, payload: Parameters<Events[E]>[0]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        listener(payload);
      } catch (err) {
        // A throwing listener must not stop delivery to the others (nor break the SDK's own state).
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
