/**
 * The worker protocol (version 1): newline-delimited JSON on fd 3 between the server and one worker
 * process, shaped like JSON-RPC 2.0 without the "jsonrpc" member. The Python and Node runners
 * (runtime/python/runner.py, runtime/node/runner.mjs) implement the worker side; the message list
 * is documented there and in robot/README.md.
 */

export const PROTOCOL_VERSION = 1;
/** Longest accepted line from a worker (results and pushes larger than this belong in files). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

/** One parameter of a project method, as Python's inspect.signature sees it (empty for JavaScript). */
export interface MethodParam {
  name: string;
  required: boolean;
  default?: unknown;
}

export interface MethodInfo {
  name: string;
  params: MethodParam[];
  /** Marked as a motion command (`@motion`, `__motion__`): guarded by the deadman timer. */
  motion: boolean;
  doc: string | null;
  arity?: number;
}

export interface ObjectInfo {
  /** Module-level name, the `object` of a `process` call (e.g. "sport_client"). */
  name: string;
  className: string;
  doc: string | null;
  methods: MethodInfo[];
}

/** What a worker answers to `load`: the callable surface of the project. */
export interface ProjectDescription {
  objects: ObjectInfo[];
  /** Module-level functions, called with an empty `object`. */
  functions: MethodInfo[];
  hooks: { stop: boolean; start: boolean };
}

export interface ReadyParams {
  pid: number;
  runtime: 'python' | 'node';
  version: string;
  protocol: number;
}

export interface PushParams {
  event: string;
  data: unknown;
  /** Id of the call whose thread/async context pushed, when there is one (Jupyter's parent_header). */
  parentId?: number;
}

/** The error member of a worker response. */
export interface WorkerErrorBody {
  code: string;
  message: string;
  data?: { type?: string; traceback?: string };
}

export type WorkerMessage =
  | { id: number; result: unknown }
  | { id: number; error: WorkerErrorBody }
  | { method: 'ready'; params: ReadyParams }
  | { method: 'push'; params: PushParams };

/** A failed request: the worker's error, or one the server made up (timeout, crash, e-stop). */
export class WorkerError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly traceback?: string,
  ) {
    super(message);
    this.name = 'WorkerError';
  }
}

/** Parses one line from a worker; null for anything that is not a protocol message. */
export function parseWorkerLine(line: string): WorkerMessage | null {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return null;
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return null;
  const m = msg as Record<string, unknown>;
  if (typeof m.id === 'number' && ('result' in m || 'error' in m)) {
    if ('error' in m) {
      const e = m.error as Record<string, unknown> | null;
      if (!e || typeof e !== 'object' || typeof e.message !== 'string') return null;
      return { id: m.id, error: { code: String(e.code ?? 'error'), message: e.message, data: (e.data ?? {}) as WorkerErrorBody['data'] } };
    }
    return { id: m.id, result: m.result };
  }
  if (m.method === 'ready' && m.params && typeof m.params === 'object') return { method: 'ready', params: m.params as ReadyParams };
  if (m.method === 'push' && m.params && typeof m.params === 'object') {
    const p = m.params as Record<string, unknown>;
    if (typeof p.event !== 'string' || !p.event) return null;
    return { method: 'push', params: { event: p.event, data: p.data ?? null, parentId: typeof p.parentId === 'number' ? p.parentId : undefined } };
  }
  return null;
}

/**
 * Splits a byte stream into lines, refusing (and skipping) any line over `maxBytes`, so a runaway
 * worker cannot make the server buffer without bound.
 */
export class LineSplitter {
  #buffered = '';
  #skipping = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOversize: (bytes: number) => void,
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (this.#skipping) {
        this.#skipping = false;
        this.#buffered = '';
        continue;
      }
      const line = this.#buffered + piece;
      this.#buffered = '';
      if (line.length > this.maxBytes) this.onOversize(line.length);
      else if (line) this.onLine(line);
    }
    if (this.#skipping) return;
    this.#buffered += chunk.slice(start);
    if (this.#buffered.length > this.maxBytes) {
      this.onOversize(this.#buffered.length);
      this.#buffered = '';
      this.#skipping = true;
    }
  }
}
