/**
 * The simulated motion planner: a fixed number of blocks, each taking simulated time proportional
 * to its length / feedrate, scaled by timeScale. Runs on virtual end times, so thousands of tiny
 * moves per second cost one timer each batch instead of one timer per move.
 */
export class Planner {
  #ends: number[] = [];
  #timer: NodeJS.Timeout | null = null;
  #waiters: Array<() => void> = [];
  #drainWaiters: Array<() => void> = [];
  #lastEnd = 0;
  movesDone = 0;

  constructor(
    readonly size: number,
    private readonly timeScale: number,
  ) {}

  get free(): number {
    return this.size - this.#ends.length;
  }

  get length(): number {
    return this.#ends.length;
  }

  /** Resolves once the move is in the planner (waits for a free block). */
  async add(distanceMm: number, feedMmPerMin: number): Promise<void> {
    while (this.#ends.length >= this.size) await new Promise<void>((r) => this.#waiters.push(r));
    const seconds = feedMmPerMin > 0 ? distanceMm / (feedMmPerMin / 60) : 0;
    const now = performance.now();
    const start = Math.max(now, this.#lastEnd);
    this.#lastEnd = start + seconds * 1000 * this.timeScale;
    this.#ends.push(this.#lastEnd);
    this.#schedule();
  }

  /** Resolves when every block has run (M400). */
  drained(): Promise<void> {
    if (this.#ends.length === 0) return Promise.resolve();
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  clear(): void {
    this.#ends = [];
    this.#lastEnd = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#wake();
  }

  #schedule(): void {
    if (this.#timer || this.#ends.length === 0) return;
    const delay = Math.max(0, this.#ends[0] - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const now = performance.now() + 0.5;
      while (this.#ends.length && this.#ends[0] <= now) {
        this.#ends.shift();
        this.movesDone++;
      }
      this.#wake();
      this.#schedule();
    }, delay);
  }

  #wake(): void {
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w();
    if (this.#ends.length === 0) for (const w of this.#drainWaiters.splice(0)) w();
  }
}
