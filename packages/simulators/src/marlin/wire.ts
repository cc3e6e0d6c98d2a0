/**
 * One direction of a serial wire: bytes leave no faster than baud/10 per second (8N1 framing), so
 * a simulated 115200 baud link really carries ~11.5 kB/s. bytesPerSecond 0 = unthrottled.
 */
export class Wire {
  #chunks: string[] = [];
  #readyAt: number[] = [];
  #budget = 0;
  #last = performance.now();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  bytes = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly deliver: (data: string) => void,
    /** Fixed delay per direction (USB frame polling, adapter latency timer). */
    private readonly latencyMs = 0,
  ) {}

  push(data: string): void {
    if (this.#closed || !data) return;
    if (this.bytesPerSecond <= 0 && this.latencyMs <= 0) {
      this.bytes += data.length;
      this.deliver(data);
      return;
    }
    if (this.#chunks.length === 0 && !this.#timer) {
      this.#last = performance.now();
      this.#budget = Math.min(this.#budget, 1);
    }
    this.#chunks.push(data);
    this.#readyAt.push(performance.now() + this.latencyMs);
    this.#pump();
  }

  close(): void {
    this.#closed = true;
    this.#chunks = [];
    this.#readyAt = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #pump(): void {
    if (this.#closed) return;
    const now = performance.now();
    // Time only counts while bytes wait to go out (push() restarts the clock on an idle wire), so a
    // late timer costs nothing, as with a real UART, but silence is never banked.
    this.#budget += ((now - this.#last) * this.bytesPerSecond) / 1000;
    if (this.#chunks.length && this.#readyAt[0] > now) this.#budget = Math.min(this.#budget, 1);
    this.#last = now;
    let n = this.bytesPerSecond > 0 ? Math.floor(this.#budget) : Number.POSITIVE_INFINITY;
    let out = '';
    while (n > 0 && this.#chunks.length && this.#readyAt[0] <= now) {
      const head = this.#chunks[0];
      if (head.length <= n) {
        out += head;
        n -= head.length;
        this.#chunks.shift();
        this.#readyAt.shift();
      } else {
        out += head.slice(0, n);
        this.#chunks[0] = head.slice(n);
        n = 0;
      }
    }
    if (this.bytesPerSecond > 0) this.#budget -= out.length;
    this.bytes += out.length;
    if (out) this.deliver(out);
    if (this.#chunks.length && !this.#timer) {
      const wait = Math.max(1, Math.ceil(this.#readyAt[0] - now));
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#pump();
      }, wait);
    }
  }
}
