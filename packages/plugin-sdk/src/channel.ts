/**
 * Newline-delimited JSON-RPC over one duplex stream (the fd-3 socket pair), used by both ends: the
 * server's plugin host and the Node runner. See ./protocol.ts for the message shapes.
 */
import type { Duplex } from 'node:stream';
import { MAX_LINE_BYTES, type WireError } from './protocol.ts';

/** An error answer from the other side, or a local failure of a request (`channel_closed`). */
export class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export interface ChannelHandlers {
  /** Answers a request; a thrown error with a string `code` goes back as that code. */
  onRequest(method: string, params: unknown): Promise<unknown> | unknown;
  onNotification(method: string, params: unknown): void;
  /** A line that is not JSON or too long: the channel closes after this. */
  onProtocolError?(err: Error): void;
  /** The stream ended or failed. */
  onClose?(err: Error | null): void;
}

/** Turns anything thrown into the wire error shape. */
export function toWireError(err: unknown): WireError {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; data?: unknown; name?: unknown };
    const code = typeof e.code === 'string' && /^[a-z][a-z0-9_]*$/.test(e.code) ? e.code : 'plugin_error';
    const message = typeof e.message === 'string' && e.message ? e.message : String(err);
    return e.data === undefined ? { code, message } : { code, message, data: e.data };
  }
  return { code: 'plugin_error', message: String(err) };
}

export class RpcChannel {
  #stream: Duplex;
  #handlers: ChannelHandlers;
  #nextId = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #buffer = '';
  #closed: Error | null = null;
  #maxLine: number;

  constructor(stream: Duplex, handlers: ChannelHandlers, opts: { maxLineBytes?: number } = {}) {
    this.#stream = stream;
    this.#handlers = handlers;
    this.#maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => this.#onData(chunk));
    stream.on('error', (err) => this.close(err));
    stream.on('close', () => this.close(null));
    stream.on('end', () => this.close(null));
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  /** Requests waiting for an answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  request<T = unknown>(method: string, params: unknown = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new RpcError('channel_closed', this.#closed.message));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#write({ id, method, params });
    });
  }

  notify(method: string, params: unknown = {}): void {
    if (this.#closed) return;
    this.#write({ method, params });
  }

  /** Rejects every pending request and stops reading. Idempotent. */
  close(err: Error | null): void {
    if (this.#closed) return;
    this.#closed = err ?? new Error('the channel closed');
    for (const p of this.#pending.values()) p.reject(new RpcError('channel_closed', this.#closed.message));
    this.#pending.clear();
    this.#stream.removeAllListeners('data');
    this.#stream.destroy();
    this.#handlers.onClose?.(err);
  }

  #write(msg: unknown): void {
    let line: string;
    try {
      line = JSON.stringify(msg);
    } catch (err) {
      // A result that cannot be serialised (a cycle, a BigInt) becomes an error answer, not a crash.
      const id = (msg as { id?: number }).id;
      line = JSON.stringify({ id, error: { code: 'unserializable', message: (err as Error).message } });
    }
    this.#stream.write(`${line}\n`);
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl = this.#buffer.indexOf('\n');
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl);
      this.#buffer = this.#buffer.slice(nl + 1);
      if (line.trim()) this.#onLine(line);
      if (this.#closed) return;
      nl = this.#buffer.indexOf('\n');
    }
    if (this.#buffer.length > this.#maxLine) this.#fail(new Error(`a message line is longer than ${this.#maxLine} bytes`));
  }

  #fail(err: Error): void {
    this.#handlers.onProtocolError?.(err);
    this.close(err);
  }

  #onLine(line: string): void {
    let msg: any;
    try {
      msg = JSON.parse(line);
    } catch {
      this.#fail(new Error(`not JSON on the plugin channel: ${line.slice(0, 80)}`));
      return;
    }
    if (!msg || typeof msg !== 'object') {
      this.#fail(new Error('a channel message must be a JSON object'));
      return;
    }
    if (typeof msg.method === 'string') {
      if (typeof msg.id === 'number') void this.#answer(msg.id, msg.method, msg.params);
      else {
        try {
          this.#handlers.onNotification(msg.method, msg.params);
        } catch (err) {
          this.#handlers.onProtocolError?.(err as Error);
        }
      }
      return;
    }
    if (typeof msg.id === 'number') {
      const p = this.#pending.get(msg.id);
      if (!p) return; // an answer that came after we gave up on it
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new RpcError(String(msg.error.code ?? 'plugin_error'), String(msg.error.message ?? 'error'), msg.error.data));
      else p.resolve(msg.result);
    }
  }

  async #answer(id: number, method: string, params: unknown): Promise<void> {
    try {
      const result = await this.#handlers.onRequest(method, params);
      if (!this.#closed) this.#write({ id, result: result === undefined ? null : result });
    } catch (err) {
      if (!this.#closed) this.#write({ id, error: toWireError(err) });
    }
  }
}
