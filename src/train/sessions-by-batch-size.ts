/**
 * Graphs have a fixed batch, so a smaller last batch needs its own session: one per batch
 * size, created on first use and kept for the run.
 */
export class SessionsByBatchSize<S extends { release(): Promise<void> }> {
  private readonly sessions = new Map<number, Promise<S>>();

  constructor(private readonly create: (batch: number) => Promise<S>) {}

  get(batch: number): Promise<S> {
    let s = this.sessions.get(batch);
    if (!s) {
      s = this.create(batch);
      this.sessions.set(batch, s);
    }
    return s;
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
  }
}
