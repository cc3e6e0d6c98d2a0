import WebSocket from 'ws';
import { DriverError } from '../driver.ts';
import type { Clock, TimerHandle } from '../../util/clock.ts';

type Pending = { resolve(v: unknown): void; reject(e: Error): void; timer: TimerHandle };

/** JSON-RPC 2.0 over one WebSocket: numbered requests with timeouts, and server notifications. */
export class RpcSocket {
  #ws: WebSocket | null = null;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  onNotification: (method: string, params: unknown[]) => void = () => {};
  onClose: (reason: string) => void = () => {};

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs = 10_000,
  ) {}

  open(url: string, headers: Record<string, string>): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, handshakeTimeout: this.timeoutMs });
      let opened = false;
      ws.once('open', () => {
        opened = true;
        this.#ws = ws;
        resolve();
      });
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new DriverError(res.statusCode === 401 || res.statusCode === 403 ? 'unauthorized' : 'ws_refused', `websocket refused: HTTP ${res.statusCode}`));
      });
      ws.on('error', (err) => {
        if (!opened) reject(new DriverError('unreachable', err.message));
      });
      ws.on('message', (data) => this.#onMessage(data.toString()));
      ws.on('close', () => {
        if (!opened) return;
        this.#ws = null;
        this.#failAll(new DriverError('disconnected', 'websocket closed'));
        this.onClose('websocket closed');
      });
    });
  }

  call<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new DriverError('not_connected', 'not connected'));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.#pending.delete(id);
        reject(new DriverError('timeout', `${method} got no answer`));
      }, this.timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      ws.send(JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}), id }));
    });
  }

  close(): void {
    const ws = this.#ws;
    this.#ws = null;
    this.#failAll(new DriverError('closed', 'connection closed'));
    ws?.removeAllListeners('close');
    ws?.terminate();
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) {
      this.clock.clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }

  #onMessage(text: string): void {
    let msg: { id?: number; method?: string; params?: unknown; result?: unknown; error?: { code: number; message: string } };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.method) {
      this.onNotification(msg.method, Array.isArray(msg.params) ? msg.params : msg.params ? [msg.params] : []);
      return;
    }
    const p = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
    if (!p) return;
    this.#pending.delete(msg.id!);
    this.clock.clearTimeout(p.timer);
    if (msg.error) p.reject(new DriverError(`rpc_${msg.error.code}`, msg.error.message));
    else p.resolve(msg.result);
  }
}
