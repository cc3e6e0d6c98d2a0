/**
 * One direction of a serial wire: bytes leave no faster than baud/10 per second (8N1 framing), so
 * a simulated 115200 baud link really carries ~11.5 kB/s. bytesPerSecond 0 = unthrottled.
 */
export class Wire {
  #chunks: string[] = [];
  #budget = 0;
  #last = performance.now();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  bytes = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly deliver: (data: string) => void,
  ) {}

  push(data: string): void {
    if (this.#closed || !data) return;
    if (this.bytesPerSecond <= 0) {
      this.bytes += data.length;
      this.deliver(data);
      return;
    }
    if (this.#chunks.length === 0 && !this.#timer) this.#last = performance.now();
    this.#chunks.push(data);
    this.#pump();
  }

  close(): void {
    this.#closed = true;
    this.#chunks = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #pump(): void {
    if (this.#closed) return;
    const now = performance.now();
    // Never bank more than a few ms of idle line time: a real UART cannot catch up on silence.
    this.#budget = Math.min(this.#budget + ((now - this.#last) * this.bytesPerSecond) / 1000, this.bytesPerSecond * 0.004 + 1);
    this.#last = now;
    let n = Math.floor(this.#budget);
    let out = '';
    while (n > 0 && this.#chunks.length) {
      const head = this.#chunks[0];
      if (head.length <= n) {
        out += head;
        n -= head.length;
        this.#chunks.shift();
      } else {
        out += head.slice(0, n);
        this.#chunks[0] = head.slice(n);
        n = 0;
      }
    }
    this.#budget -= out.length;
    this.bytes += out.length;
    if (out) this.deliver(out);
    if (this.#chunks.length && !this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#pump();
      }, 1);
    }
  }
}
