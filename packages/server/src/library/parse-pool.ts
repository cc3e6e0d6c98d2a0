import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { DomainError, type ErrorKind } from '../errors.ts';
import { invalidFile } from './file-errors.ts';
import type { ParseTask, ParseTaskOutcome } from './parse-task.ts';
import type { ParseResult } from './types.ts';

/**
 * Uploads are parsed in worker threads (piscina), never on the event loop: inflating, hashing and
 * XML parsing of a hostile or just big file takes seconds of CPU, and the event loop also serves
 * every printer connection (a streaming Marlin print must not starve). The pool bounds the work:
 *   - `maxThreads` parses at once (default: the CPUs but one, at most 2, so a core stays with the
 *     event loop), `maxQueue` more waiting; past that an upload is answered 503 `library_busy`;
 *   - each worker has a heap limit (a file that needs more is refused, `file_too_complex`);
 *   - each parse has a time limit (`parse_timeout`); the worker is ended and replaced;
 *   - workers run at a slightly lower CPU priority than the event loop (nice +3: the loop gets about
 *     twice their share of a contended CPU; more would starve parsing on a busy machine).
 * Pools with the same settings share their workers within a process. A worker takes a second (on a
 * busy machine ten) to start, loading the TypeScript parsers through tsx, so one is started with
 * the server (warm()) and kept; more end after a minute idle. Idle workers never keep the process
 * alive.
 */
export interface ParsePoolOptions {
  maxThreads?: number;
  maxQueue?: number;
  /** V8 old-generation heap limit of one worker, MiB. */
  memoryLimitMb?: number;
  timeoutMs?: number;
  /** Added to the worker threads' nice value (Linux, per thread). */
  niceIncrement?: number;
}

const WORKER = fileURLToPath(new URL('./parse-worker.mjs', import.meta.url));

type Pool = Piscina<ParseTask, ParseTaskOutcome>;
/** Settings (JSON) → the process's pool with those settings. */
const shared = new Map<string, Pool>();

export class ParsePool {
  readonly #opts: Required<ParsePoolOptions>;
  #closed = false;
  #inFlight = new Set<AbortController>();

  constructor(opts: ParsePoolOptions = {}) {
    this.#opts = {
      maxThreads: Math.max(1, Math.min(opts.maxThreads ?? 2, availableParallelism() - 1)),
      maxQueue: opts.maxQueue ?? 32,
      memoryLimitMb: opts.memoryLimitMb ?? 512,
      timeoutMs: opts.timeoutMs ?? 10 * 60_000,
      niceIncrement: opts.niceIncrement ?? 3,
    };
  }

  #get(): Pool {
    if (this.#closed) throw new DomainError('unavailable', 'shutting_down', 'the server is shutting down');
    const key = JSON.stringify([this.#opts.maxThreads, this.#opts.maxQueue, this.#opts.memoryLimitMb, this.#opts.niceIncrement]);
    let pool = shared.get(key);
    if (!pool) {
      pool = new Piscina<ParseTask, ParseTaskOutcome>({
        filename: WORKER,
        minThreads: 1,
        maxThreads: this.#opts.maxThreads,
        maxQueue: this.#opts.maxQueue,
        idleTimeout: 60_000,
        resourceLimits: { maxOldGenerationSizeMb: this.#opts.memoryLimitMb },
        // A lower CPU priority for the worker threads (Linux: per thread): on a contended CPU the
        // event loop, which serves printers and requests, gets the larger share.
        niceIncrement: this.#opts.niceIncrement,
      });
      shared.set(key, pool);
    }
    return pool;
  }

  /** Starts the first worker now (at server start), so the first upload does not wait for it. */
  warm(): void {
    if (!this.#closed) this.#get();
  }

  /** Parses one stored upload; rejects with the parser's DomainError or one of the pool's. */
  async parse(task: ParseTask): Promise<ParseResult> {
    const pool = this.#get();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error('timeout')), this.#opts.timeoutMs);
    this.#inFlight.add(abort);
    let outcome: ParseTaskOutcome;
    try {
      outcome = await pool.run(task, { signal: abort.signal });
    } catch (err) {
      throw this.#poolError(err);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(abort);
    }
    if (outcome.ok) return outcome.result;
    const e = outcome.error;
    if (e.domain) return Promise.reject(new DomainError((e.kind ?? 'invalid') as ErrorKind, e.code ?? 'invalid_file', e.message, e.params));
    // Whatever else a malformed file trips over is still the file's fault, not the server's.
    throw invalidFile(`the file could not be read: ${e.message}`, { reason: e.message });
  }

  #poolError(err: unknown): Error {
    const e = err as { name?: string; code?: string; message?: string };
    if (e?.message === 'Task queue is at limit') {
      return new DomainError(
        'unavailable',
        'library_busy',
        `the server is already reading ${this.#opts.maxThreads + this.#opts.maxQueue} uploads; try again in a moment`,
        { maxThreads: this.#opts.maxThreads, maxQueue: this.#opts.maxQueue },
      );
    }
    if (e?.name === 'AbortError') {
      if (this.#closed) return new DomainError('unavailable', 'shutting_down', 'the server is shutting down');
      const seconds = Math.round(this.#opts.timeoutMs / 1000);
      return new DomainError('invalid', 'parse_timeout', `reading the file took longer than ${seconds} s: it was refused`, { seconds });
    }
    if (e?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return new DomainError(
        'invalid',
        'file_too_complex',
        `reading the file needed more than ${this.#opts.memoryLimitMb} MiB of memory: it was refused`,
        { memoryLimitMb: this.#opts.memoryLimitMb },
      );
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  /**
   * Stops this pool's use of the workers: parses in flight are abandoned (answered `shutting_down`;
   * their worker is ended and replaced) and new ones refused. The shared workers themselves end
   * when idle.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const a of this.#inFlight) a.abort(new Error('shutting down'));
  }
}
