import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { LineSplitter, type PushParams, type ReadyParams, WorkerError, parseWorkerLine } from './protocol.ts';

/** How to start one worker: the runtime's runner with the project's interpreter. */
export interface SpawnSpec {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the server asked for the exit (shutdown, terminate). */
  expected: boolean;
  /** The spawn itself failed (interpreter missing, …). */
  spawnError?: string;
}

export interface WorkerHooks {
  onPush(push: PushParams): void;
  onLog(stream: 'stdout' | 'stderr', line: string): void;
  onExit(info: ExitInfo): void;
}

const MAX_LOG_LINE = 4000;

/**
 * One worker process: spawned detached (its own process group, so a kill also reaches the SDK
 * helpers it starts), JSON lines on fd 3 (a socket pair), stdout/stderr turned into log lines.
 * Requests get numeric ids; every pending request is rejected when the process exits.
 */
export class WorkerProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<ReadyParams>;
  readonly exited: Promise<ExitInfo>;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #expected = false;
  #exitInfo: ExitInfo | null = null;
  #channel: Socket;
  #stderrTail: string[] = [];

  constructor(spec: SpawnSpec, hooks: WorkerHooks) {
    let resolveReady!: (p: ReadyParams) => void;
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    this.ready.catch(() => {});
    let resolveExit!: (info: ExitInfo) => void;
    this.exited = new Promise((res) => (resolveExit = res));

    this.child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.#channel = this.child.stdio[3] as Socket;

    const channelLines = new LineSplitter(
      (line) => {
        const msg = parseWorkerLine(line);
        if (!msg) return hooks.onLog('stderr', `[worker] unreadable protocol line: ${line.slice(0, 200)}`);
        if ('id' in msg) {
          const p = this.#pending.get(msg.id);
          if (!p) return;
          this.#pending.delete(msg.id);
          if ('error' in msg) p.reject(new WorkerError(msg.error.code, msg.error.message, msg.error.data?.traceback));
          else p.resolve(msg.result);
        } else if (msg.method === 'ready') resolveReady(msg.params);
        else if (msg.method === 'push') hooks.onPush(msg.params);
      },
      (bytes) => hooks.onLog('stderr', `[worker] protocol line of ${bytes} bytes dropped (over the limit)`),
    );
    this.#channel.setEncoding('utf8');
    this.#channel.on('data', (chunk: string) => channelLines.push(chunk));
    this.#channel.on('error', () => {});

    for (const stream of ['stdout', 'stderr'] as const) {
      const lines = new LineSplitter(
        (line) => {
          const text = line.length > MAX_LOG_LINE ? `${line.slice(0, MAX_LOG_LINE)}… (${line.length} characters)` : line;
          if (stream === 'stderr') {
            this.#stderrTail.push(text);
            if (this.#stderrTail.length > 20) this.#stderrTail.shift();
          }
          hooks.onLog(stream, text);
        },
        (bytes) => hooks.onLog(stream, `[a line of ${bytes} characters was dropped]`),
        1024 * 1024,
      );
      const s = this.child[stream]!;
      s.setEncoding('utf8');
      s.on('data', (chunk: string) => lines.push(chunk));
    }

    const finish = (info: Omit<ExitInfo, 'expected'>) => {
      if (this.#exitInfo) return;
      this.#exitInfo = { ...info, expected: this.#expected };
      // Grandchildren (SDK helpers) may outlive the worker in its process group: end them too.
      this.#signalGroup('SIGKILL');
      const why = info.spawnError
        ? `the worker could not start: ${info.spawnError}`
        : `the worker exited (${info.signal ? `signal ${info.signal}` : `code ${info.code}`})`;
      rejectReady(new WorkerError('worker_exited', why));
      for (const p of this.#pending.values()) p.reject(new WorkerError('worker_exited', why));
      this.#pending.clear();
      resolveExit(this.#exitInfo);
      hooks.onExit(this.#exitInfo);
    };
    this.child.on('error', (err) => finish({ code: null, signal: null, spawnError: err.message }));
    // Answers written just before the exit may still sit in the pipe: read them before failing the rest.
    this.child.on('exit', (code, signal) => {
      if (this.#channel.readableEnded || this.#channel.destroyed) return finish({ code, signal });
      const t = setTimeout(() => finish({ code, signal }), 200);
      this.#channel.once('close', () => {
        clearTimeout(t);
        finish({ code, signal });
      });
    });
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  get alive(): boolean {
    return this.#exitInfo === null;
  }

  /** The last lines the worker wrote to stderr (a crash report names them). */
  get stderrTail(): string[] {
    return [...this.#stderrTail];
  }

  /** Sends a request; `onId` learns its id (to cancel it later). Rejects with WorkerError. */
  request(method: string, params: unknown, onId?: (id: number) => void): Promise<unknown> {
    if (!this.alive) return Promise.reject(new WorkerError('worker_exited', 'the worker is not running'));
    const id = this.#nextId++;
    onId?.(id);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#write({ id, method, params });
    });
  }

  notify(method: string, params: unknown = {}): void {
    if (this.alive) this.#write({ method, params });
  }

  #write(msg: unknown): void {
    if (!this.#channel.writable) return;
    this.#channel.write(`${JSON.stringify(msg)}\n`);
  }

  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (!pid) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is already gone
    }
  }

  /** Asks the worker to exit (after the caller ran stop()); kills it if it has not within `graceMs`. */
  async shutdown(graceMs: number): Promise<ExitInfo> {
    if (!this.alive) return this.#exitInfo!;
    this.#expected = true;
    this.notify('shutdown', { stop: false });
    return this.#waitOrEscalate(graceMs);
  }

  /** SIGTERM to the process group, then SIGKILL after `graceMs` (the stop() time box ran out). */
  async terminate(graceMs: number): Promise<ExitInfo> {
    if (!this.alive) return this.#exitInfo!;
    this.#expected = true;
    this.#signalGroup('SIGTERM');
    return this.#waitOrEscalate(graceMs);
  }

  async #waitOrEscalate(graceMs: number): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.exited,
      new Promise<null>((r) => {
        timer = setTimeout(() => r(null), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (exited) return exited;
    this.#signalGroup('SIGKILL');
    return this.exited;
  }
}
