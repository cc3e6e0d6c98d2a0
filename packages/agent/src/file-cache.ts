/**
 * Job files on the agent, by sha256: fetched on demand from the server over HTTP
 * (`GET /api/v1/agents/files/<sha256>` with the agent key), kept for the next copy, resumed with a
 * Range request after a drop, checked against the hash before use, evicted oldest-first past a size.
 *
 * Why HTTP and not MQTT chunks: a file of hundreds of MB sent through the broker would sit in the
 * same TCP connection as the e-stop and the commands (head-of-line blocking), and brokers are not
 * file servers (message size limits, memory); HTTP Range resume is standard, and any server
 * process sharing the data dir can serve the bytes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DriverError } from '@rwc/server/printers/driver.ts';
import type { Logger } from '@rwc/server/util/logger.ts';

export interface FileCacheOptions {
  dir: string;
  /** The server's HTTP base URL, e.g. http://server:8080. */
  httpUrl: string;
  apiKey: string;
  /** Cached files beyond this total are evicted, least recently used first. */
  maxBytes: number;
  logger: Logger;
}

const SHA256 = /^[0-9a-f]{64}$/;

export class FileCache {
  #o: FileCacheOptions;
  #inflight = new Map<string, Promise<string>>();
  /** Bytes received over HTTP (bench). */
  bytesFetched = 0;

  constructor(opts: FileCacheOptions) {
    this.#o = opts;
    fs.mkdirSync(opts.dir, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new DriverError('bad_file', `not a sha256: ${sha256}`);
    return path.join(this.#o.dir, sha256);
  }

  /** The local path of the file, downloading (or resuming) it first when needed. */
  ensure(sha256: string, size: number, opts: { signal?: AbortSignal; onProgress?: (received: number, total: number) => void } = {}): Promise<string> {
    const final = this.pathOf(sha256);
    const st = fs.statSync(final, { throwIfNoEntry: false });
    if (st && st.size === size) {
      const now = new Date();
      fs.utimesSync(final, now, now);
      return Promise.resolve(final);
    }
    let p = this.#inflight.get(sha256);
    if (!p) {
      p = this.#download(sha256, size, final, opts).finally(() => this.#inflight.delete(sha256));
      this.#inflight.set(sha256, p);
    }
    return p;
  }

  async #download(sha256: string, size: number, final: string, opts: { signal?: AbortSignal; onProgress?: (r: number, t: number) => void }): Promise<string> {
    const part = `${final}.part`;
    let failures = 0;
    let corrupt = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      let have = fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0;
      if (have > size) {
        fs.rmSync(part, { force: true });
        have = 0;
      }
      try {
        if (have < size) await this.#fetchInto(sha256, part, have, size, opts);
        if (await hashOf(part) !== sha256) {
          fs.rmSync(part, { force: true });
          if (++corrupt >= 2) throw new DriverError('file_corrupt', `the download of ${sha256} does not match its sha256 (twice)`);
          continue;
        }
        fs.renameSync(part, final);
        this.#evict(final);
        return final;
      } catch (err) {
        if (err instanceof DriverError || opts.signal?.aborted) throw err;
        // Network trouble: wait and resume from what is on disk.
        const wait = Math.min(30_000, 500 * 2 ** failures++);
        this.#o.logger.warn({ sha256, have, err: (err as Error).message, retryInMs: wait }, 'file download interrupted; resuming');
        await sleep(wait, opts.signal);
      }
    }
  }

  async #fetchInto(sha256: string, part: string, have: number, size: number, opts: { signal?: AbortSignal; onProgress?: (r: number, t: number) => void }): Promise<void> {
    const headers: Record<string, string> = { 'x-api-key': this.#o.apiKey };
    if (have > 0) headers.range = `bytes=${have}-`;
    const res = await fetch(`${this.#o.httpUrl.replace(/\/$/, '')}/api/v1/agents/files/${sha256}`, { headers, signal: opts.signal });
    if (res.status === 416) {
      fs.rmSync(part, { force: true });
      throw new Error('range not satisfiable; starting over');
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      await res.body?.cancel();
      throw new DriverError('file_unavailable', `the server does not give this agent file ${sha256} (HTTP ${res.status})`);
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new Error(`HTTP ${res.status}`);
    }
    if (!res.body) throw new Error('empty answer');
    // 200 = the whole file (the server ignored the range): start the part file over.
    let received = res.status === 206 ? have : 0;
    let lastReport = 0;
    // Each chunk goes to disk as it arrives (not through a stream pipeline, which drops writes still
    // buffered when the answer breaks off): what came before a drop is kept and resumed from.
    const fd = fs.openSync(part, res.status === 206 ? 'a' : 'w');
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        opts.signal?.throwIfAborted();
        fs.writeSync(fd, chunk);
        received += chunk.length;
        this.bytesFetched += chunk.length;
        const now = Date.now();
        if (now - lastReport > 500 || received === size) {
          lastReport = now;
          opts.onProgress?.(received, size);
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Drops least recently used files until the cache fits (never `keep`). */
  #evict(keep: string): void {
    const files = fs
      .readdirSync(this.#o.dir)
      .filter((f) => SHA256.test(f))
      .map((f) => {
        const p = path.join(this.#o.dir, f);
        const st = fs.statSync(p);
        return { p, size: st.size, used: st.mtimeMs };
      })
      .sort((a, b) => a.used - b.used);
    let total = files.reduce((n, f) => n + f.size, 0);
    for (const f of files) {
      if (total <= this.#o.maxBytes) break;
      if (f.p === keep) continue;
      fs.rmSync(f.p, { force: true });
      total -= f.size;
    }
  }
}

async function hashOf(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
