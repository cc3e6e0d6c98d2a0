import fs from 'node:fs/promises';
import { stripComment } from './line-format.ts';
import type { JobLineSource } from './sender.ts';

const CHUNK = 64 * 1024;
const LOW_WATER = 256;

/**
 * Streams a plain .gcode file line by line without loading it whole: reads 64 KiB chunks ahead of
 * the sender, strips comments and blank lines, and tracks how many file bytes have been sent.
 */
export class GcodeFileSource implements JobLineSource {
  #fh: fs.FileHandle | null = null;
  #lines: Array<{ command: string; end: number }> = [];
  #partial = '';
  #readPos = 0;
  #eof = false;
  #reading = false;
  #error: Error | null = null;
  /** File bytes up to and including the last line handed out. */
  bytesSent = 0;
  readonly size: number;

  private constructor(
    size: number,
    private readonly onReady: () => void,
    private readonly onTake: (command: string, bytesSent: number) => void,
  ) {
    this.size = size;
  }

  static async open(
    path: string,
    hooks: { onReady(): void; onTake(command: string, bytesSent: number): void },
  ): Promise<GcodeFileSource> {
    const stat = await fs.stat(path);
    const src = new GcodeFileSource(stat.size, hooks.onReady, hooks.onTake);
    src.#fh = await fs.open(path, 'r');
    await src.#fill();
    return src;
  }

  get error(): Error | null {
    return this.#error;
  }

  /** Lines read ahead and not yet taken (bounded: about one 64 KiB chunk). */
  get bufferedLines(): number {
    return this.#lines.length;
  }

  get finished(): boolean {
    return this.#eof && this.#lines.length === 0;
  }

  take(): string | 'wait' | 'end' {
    if (this.#lines.length < LOW_WATER && !this.#eof && !this.#reading && !this.#error) {
      void this.#fill().then(() => this.onReady());
    }
    const next = this.#lines.shift();
    if (!next) return this.#eof || this.#error ? 'end' : 'wait';
    this.bytesSent = next.end;
    this.onTake(next.command, next.end);
    return next.command;
  }

  async close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = null;
    await fh?.close().catch(() => {});
  }

  async #fill(): Promise<void> {
    if (this.#reading || this.#eof || !this.#fh) return;
    this.#reading = true;
    try {
      const buf = Buffer.alloc(CHUNK);
      const { bytesRead } = await this.#fh.read(buf, 0, CHUNK, this.#readPos);
      const chunkStart = this.#readPos - Buffer.byteLength(this.#partial, 'latin1');
      this.#readPos += bytesRead;
      if (bytesRead === 0) this.#eof = true;
      const text = this.#partial + buf.subarray(0, bytesRead).toString('latin1');
      const parts = text.split('\n');
      this.#partial = this.#eof ? '' : parts.pop()!;
      let offset = chunkStart;
      for (const raw of parts) {
        offset += raw.length + 1;
        const command = stripComment(raw);
        if (command) this.#lines.push({ command, end: Math.min(offset, this.size) });
      }
      if (this.#eof) this.bytesSent = this.#lines.length ? this.bytesSent : this.size;
    } catch (err) {
      this.#error = err as Error;
    } finally {
      this.#reading = false;
    }
    if (!this.#eof && this.#lines.length < LOW_WATER) await this.#fill();
  }
}
