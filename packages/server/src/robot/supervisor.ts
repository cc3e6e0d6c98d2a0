import type { Clock, TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { CrashGuard } from './crash-guard.ts';
import type { ProjectInfo } from './projects.ts';
import { type ProjectDescription, type PushParams, type ReadyParams, WorkerError } from './protocol.ts';
import { type ExitInfo, type SpawnSpec, WorkerProcess } from './worker-process.ts';

/**
 * `stopped` (no process; the next need starts one), `starting` (spawned, loading the project),
 * `ready`, `load_error` (the project's import failed; `start`/`update` try again), `restarting`
 * (crashed; a restart is scheduled with backoff), `failed` (crash loop or no interpreter; only an
 * explicit `start`/`update` tries again).
 */
export type WorkerState = 'stopped' | 'starting' | 'ready' | 'load_error' | 'restarting' | 'failed';

export interface LoadedProject {
  info: ProjectInfo;
  description: ProjectDescription;
  runtime: ReadyParams;
}

export interface StopOutcome {
  /** `stopped`: stop() returned (and a running call ended) within the time box; `killed`: it did not, the worker was terminated. */
  outcome: 'stopped' | 'not_running' | 'killed';
  ms: number;
  ran?: string[];
  detail?: string;
}

export interface Incident {
  kind: 'crash' | 'crash_loop' | 'killed' | 'load_failed' | 'spawn_failed';
  message: string;
  detail?: Record<string, unknown>;
}

export interface SupervisorOptions {
  clock: Clock;
  logger: Logger;
  /** Readies `projects/current` and says how to run it. */
  prepare(): Promise<{ spec: SpawnSpec; project: ProjectInfo; projectDir: string }>;
  callTimeoutMs: number;
  stopTimeoutMs: number;
  killGraceMs: number;
  loadTimeoutMs: number;
  maxQueue?: number;
  guard?: CrashGuard;
  onPush(push: PushParams): void;
  onLog(stream: 'stdout' | 'stderr' | 'system', line: string): void;
  /** The state, project or worker changed (not fired per call). */
  onChange(): void;
  onIncident(incident: Incident): void;
}

interface QueuedCall {
  object: string;
  method: string;
  args: unknown;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Inflight {
  call: QueuedCall;
  id: number | null;
  /** The caller already got an answer (timeout, e-stop); a late result is dropped. */
  answered: boolean;
  startedAt: number;
  timer: TimerHandle | null;
  done: Promise<void>;
  markDone(): void;
}

const where = (c: { object: string; method: string }) => (c.object ? `${c.object}.${c.method}` : c.method);

/**
 * Runs the project in one worker process and keeps it running: starts it on first need, serialises
 * calls (one at a time, FIFO, as seed 003's REQ-REP did), enforces the per-call time limit, runs the
 * project's stop() with a time box and escalates (SIGTERM, then SIGKILL of the process group),
 * handles e-stop ahead of queued calls, and restarts a crashed worker with backoff.
 */
export class WorkerSupervisor {
  readonly #o: SupervisorOptions;
  readonly #guard: CrashGuard;
  #state: WorkerState = 'stopped';
  #worker: WorkerProcess | null = null;
  #loaded: LoadedProject | null = null;
  #queue: QueuedCall[] = [];
  #inflight: Inflight | null = null;
  #starting: Promise<void> | null = null;
  #lifecycle: Promise<unknown> = Promise.resolve();
  #restartTimer: TimerHandle | null = null;
  #restartAt: number | null = null;
  #lastError: { code: string; message: string; traceback?: string; at: string } | null = null;
  #startedAt: number | null = null;
  #restarts = 0;
  #closed = false;

  constructor(opts: SupervisorOptions) {
    this.#o = opts;
    this.#guard = opts.guard ?? new CrashGuard();
  }

  get state(): WorkerState {
    return this.#state;
  }

  get loaded(): LoadedProject | null {
    return this.#loaded;
  }

  get pid(): number | null {
    return this.#worker?.pid ?? null;
  }

  /** Status for GET /api/v1/robot and the console. */
  snapshot() {
    const now = this.#o.clock.now();
    const inflight = this.#inflight;
    return {
      state: this.#state,
      pid: this.#worker?.alive ? this.#worker.pid : null,
      runtime: this.#loaded?.runtime ?? null,
      startedAt: this.#startedAt ? new Date(this.#startedAt).toISOString() : null,
      restarts: this.#restarts,
      recentCrashes: this.#guard.recent(now),
      restartInSeconds: this.#restartAt ? Math.max(0, (this.#restartAt - now) / 1000) : null,
      lastError: this.#lastError,
      busy: inflight ? { call: where(inflight.call), since: new Date(inflight.startedAt).toISOString() } : null,
      queued: this.#queue.length,
    };
  }

  /** True when `object.method` is marked as a motion command in the loaded project. */
  isMotion(object: string, method: string): boolean {
    const d = this.#loaded?.description;
    if (!d) return false;
    const list = object ? d.objects.find((o) => o.name === object)?.methods : d.functions;
    return !!list?.find((m) => m.name === method)?.motion;
  }

  #setState(state: WorkerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#o.onChange();
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lifecycle.then(fn, fn);
    this.#lifecycle = run.catch(() => {});
    return run;
  }

  #within<T>(p: Promise<T>, ms: number): Promise<{ value: T } | null> {
    return new Promise((resolve, reject) => {
      const t = this.#o.clock.setTimeout(() => resolve(null), ms);
      p.then(
        (value) => {
          this.#o.clock.clearTimeout(t);
          resolve({ value });
        },
        (err) => {
          this.#o.clock.clearTimeout(t);
          reject(err);
        },
      );
    });
  }

  /** The project loaded and ready for calls; starts the worker when none runs. */
  async ensureReady(): Promise<LoadedProject> {
    for (let i = 0; i < 4; i++) {
      switch (this.#state) {
        case 'ready':
          return this.#loaded!;
        case 'stopped':
          if (this.#closed) throw new WorkerError('closed', 'the robot runtime is shutting down');
          await this.#exclusive(() => this.#startIfStopped());
          break;
        case 'starting':
          await this.#starting;
          break;
        case 'load_error':
          throw new WorkerError(
            'load_failed',
            `the project failed to load: ${this.#lastError?.message ?? 'unknown error'}; fix it and send update, or send start to retry`,
            this.#lastError?.traceback,
          );
        case 'restarting':
          throw new WorkerError(
            'worker_restarting',
            `the worker crashed and restarts in ${Math.ceil(this.snapshot().restartInSeconds ?? 0)} s; try again then`,
          );
        case 'failed':
          throw new WorkerError(
            'worker_failed',
            `the worker is down: ${this.#lastError?.message ?? 'unknown error'}; send start or update to try again`,
          );
      }
    }
    throw new WorkerError('worker_unavailable', 'the worker did not become ready');
  }

  async #startIfStopped(): Promise<void> {
    if (this.#state !== 'stopped' || this.#closed) return;
    let finished!: () => void;
    this.#starting = new Promise((r) => (finished = r));
    this.#setState('starting');
    let worker: WorkerProcess | null = null;
    try {
      const { spec, project, projectDir } = await this.#o.prepare();
      worker = new WorkerProcess(spec, {
        onPush: (p) => this.#o.onPush(p),
        onLog: (stream, line) => this.#o.onLog(stream, line),
        onExit: (info) => this.#onWorkerExit(worker!, info),
      });
      this.#worker = worker;
      const ready = await this.#within(worker.ready, this.#o.loadTimeoutMs);
      if (!ready) throw new WorkerError('start_timeout', `the worker did not start within ${this.#o.loadTimeoutMs / 1000} s`);
      const loading = worker.request('load', { projectDir, entry: project.entry });
      const description = await this.#within(loading, this.#o.loadTimeoutMs);
      if (!description) throw new WorkerError('load_timeout', `importing the project took longer than ${this.#o.loadTimeoutMs / 1000} s`);
      this.#loaded = { info: project, description: description.value as ProjectDescription, runtime: ready.value };
      this.#startedAt = this.#o.clock.now();
      this.#lastError = null;
      this.#setState('ready');
    } catch (err) {
      if (this.state !== 'starting') return; // the exit handler already decided (crash, spawn failure)
      const e = err instanceof WorkerError ? err : new WorkerError('prepare_failed', (err as Error).message);
      this.#lastError = { code: e.code, message: e.message, traceback: e.traceback, at: new Date(this.#o.clock.now()).toISOString() };
      this.#loaded = null;
      if (worker && this.#worker === worker) {
        this.#worker = null;
        await worker.terminate(this.#o.killGraceMs);
      }
      const loadProblem = ['load_failed', 'load_timeout', 'start_timeout'].includes(e.code);
      this.#o.onIncident({ kind: loadProblem ? 'load_failed' : 'spawn_failed', message: e.message, detail: { traceback: e.traceback } });
      this.#setState(loadProblem ? 'load_error' : 'failed');
    } finally {
      this.#starting = null;
      finished();
      this.#o.onChange();
      this.#pump();
    }
  }

  #onWorkerExit(worker: WorkerProcess, info: ExitInfo): void {
    if (worker !== this.#worker) return; // a worker the server retired on purpose
    this.#worker = null;
    this.#loaded = null;
    const tail = worker.stderrTail.join('\n');
    const what = info.spawnError
      ? `cannot start the worker: ${info.spawnError}`
      : `the worker exited unexpectedly (${info.signal ? `signal ${info.signal}` : `exit code ${info.code}`})`;
    this.#failAll(new WorkerError('worker_crashed', `${what}; the call did not complete`, tail || undefined));
    this.#lastError = { code: 'worker_crashed', message: what, traceback: tail || undefined, at: new Date(this.#o.clock.now()).toISOString() };
    if (info.spawnError) {
      this.#o.onIncident({ kind: 'spawn_failed', message: `${what}; install the interpreter or set RWC_ROBOT_PYTHON` });
      this.#setState('failed');
      return;
    }
    const decision = this.#guard.record(this.#o.clock.now());
    this.#o.onIncident({ kind: 'crash', message: what, detail: { stderr: tail, crashes: decision.crashes } });
    if (decision.action === 'give_up') {
      this.#o.onIncident({ kind: 'crash_loop', message: `the worker crashed ${decision.crashes} times within 5 minutes; it stays down until start or update` });
      this.#setState('failed');
      return;
    }
    this.#restartAt = this.#o.clock.now() + decision.delayMs;
    this.#setState('restarting');
    this.#restartTimer = this.#o.clock.setTimeout(() => {
      this.#restartTimer = null;
      this.#restartAt = null;
      if (this.#state !== 'restarting') return;
      this.#restarts++;
      this.#state = 'stopped';
      void this.#exclusive(() => this.#startIfStopped());
    }, decision.delayMs);
  }

  /** Queues a call of the project (serial, FIFO); resolves with its return value. */
  async call(object: string, method: string, args: unknown): Promise<unknown> {
    await this.ensureReady();
    if (this.#queue.length >= (this.#o.maxQueue ?? 100)) {
      throw new WorkerError('queue_full', `${this.#queue.length} calls are already waiting; slow down`);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ object, method, args, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#inflight || this.#state !== 'ready' || !this.#worker) return;
    const call = this.#queue.shift();
    if (!call) return;
    let markDone!: () => void;
    const done = new Promise<void>((r) => (markDone = r));
    const inflight: Inflight = { call, id: null, answered: false, startedAt: this.#o.clock.now(), timer: null, done, markDone };
    this.#inflight = inflight;
    inflight.timer = this.#o.clock.setTimeout(() => this.#onCallTimeout(inflight), this.#o.callTimeoutMs);
    this.#worker.request('call', { object: call.object, method: call.method, args: call.args }, (id) => (inflight.id = id)).then(
      (result) => this.#finishCall(inflight, null, result),
      (err: Error) => this.#finishCall(inflight, err, undefined),
    );
  }

  #finishCall(inflight: Inflight, err: Error | null, result: unknown): void {
    this.#o.clock.clearTimeout(inflight.timer);
    if (!inflight.answered) {
      inflight.answered = true;
      if (err) inflight.call.reject(err);
      else inflight.call.resolve(result);
    } else if (!err) {
      this.#o.onLog('system', `${where(inflight.call)} finished after its caller was answered; its result was dropped`);
    }
    if (this.#inflight === inflight) this.#inflight = null;
    inflight.markDone();
    this.#pump();
  }

  #onCallTimeout(inflight: Inflight): void {
    if (this.#inflight !== inflight || inflight.answered) return;
    inflight.answered = true;
    const seconds = this.#o.callTimeoutMs / 1000;
    inflight.call.reject(
      new WorkerError('call_timeout', `${where(inflight.call)} ran longer than max_execution_time (${seconds} s); it was cancelled`),
    );
    const worker = this.#worker;
    if (inflight.id !== null) worker?.notify('cancel', { id: inflight.id });
    // Python threads cannot be killed: give the call the stop time box to notice, else restart the worker.
    void this.#within(inflight.done, this.#o.stopTimeoutMs).then((ended) => {
      if (!ended && this.#inflight === inflight && worker) {
        void this.#killAndRestart(worker, `${where(inflight.call)} did not end within ${this.#o.stopTimeoutMs / 1000} s after its timeout`);
      }
    });
  }

  #dropQueue(reason: string, code = 'cancelled'): void {
    const queued = this.#queue.splice(0);
    for (const c of queued) c.reject(new WorkerError(code, `${where(c)} was dropped before it ran: ${reason}`));
  }

  #failAll(err: WorkerError): void {
    this.#dropQueue(err.message, err.code);
    const inflight = this.#inflight;
    this.#inflight = null;
    if (inflight) {
      this.#o.clock.clearTimeout(inflight.timer);
      if (!inflight.answered) {
        inflight.answered = true;
        inflight.call.reject(err);
      }
      inflight.markDone();
    }
  }

  /**
   * Runs the project's stop() (every object's stop() and the module's) and drops queued calls.
   * When stop() and any running call have not both ended within the time box, or stop() raised,
   * the worker's process group gets SIGTERM, then SIGKILL, and a fresh worker starts.
   */
  async stopProject(reason: string): Promise<StopOutcome> {
    const t0 = this.#o.clock.now();
    this.#dropQueue(`stop (${reason})`);
    const worker = this.#worker;
    if (!worker || this.#state !== 'ready') return { outcome: 'not_running', ms: 0 };
    const inflight = this.#inflight;
    const stopped = worker.request('stop', { reason }) as Promise<{ ran?: string[] }>;
    stopped.catch(() => {});
    const both = Promise.all([stopped, inflight?.done ?? Promise.resolve()]);
    let detail: string;
    try {
      const finished = await this.#within(both, this.#o.stopTimeoutMs);
      if (finished) {
        return { outcome: 'stopped', ms: this.#o.clock.now() - t0, ran: finished.value[0]?.ran ?? [] };
      }
      detail = inflight
        ? `stop() and the running ${where(inflight.call)} did not both end within ${this.#o.stopTimeoutMs / 1000} s`
        : `stop() did not return within ${this.#o.stopTimeoutMs / 1000} s`;
    } catch (err) {
      if (this.#worker !== worker) return { outcome: 'killed', ms: this.#o.clock.now() - t0, detail: (err as Error).message };
      detail = `stop() failed: ${(err as Error).message}`;
    }
    await this.#killAndRestart(worker, `${detail} (${reason})`);
    return { outcome: 'killed', ms: this.#o.clock.now() - t0, detail };
  }

  /** E-stop: answers the running call at once, drops the queue, then stops like stopProject. */
  async estop(): Promise<StopOutcome> {
    const inflight = this.#inflight;
    if (inflight && !inflight.answered) {
      inflight.answered = true;
      inflight.call.reject(new WorkerError('estop', `${where(inflight.call)} was interrupted by the e-stop`));
    }
    return this.stopProject('e-stop');
  }

  async #killAndRestart(worker: WorkerProcess, reason: string): Promise<void> {
    if (this.#worker !== worker) return;
    this.#worker = null;
    this.#loaded = null;
    this.#failAll(new WorkerError('worker_killed', `the worker was terminated: ${reason}`));
    this.#o.onIncident({ kind: 'killed', message: `the worker was terminated: ${reason}` });
    this.#setState('stopped');
    await worker.terminate(this.#o.killGraceMs);
    this.#restarts++;
    // Back to a loaded project at once, so the next call (or reconnect) finds it ready.
    void this.#exclusive(() => this.#startIfStopped());
  }

  /** Runs the project's optional module-level start() (seed 003 `start`). */
  async runStartHook(): Promise<{ ran: boolean; result?: unknown }> {
    await this.ensureReady();
    const worker = this.#worker;
    if (!worker) throw new WorkerError('worker_unavailable', 'the worker is not running');
    const res = await this.#within(worker.request('start', {}), this.#o.callTimeoutMs);
    if (!res) throw new WorkerError('call_timeout', 'start() ran longer than max_execution_time');
    return res.value as { ran: boolean; result?: unknown };
  }

  /**
   * A fresh worker on the current project (after update, a requirements install, or `start` after a
   * failure). The caller ran stopProject() first; `between` runs while no worker runs (the update
   * swaps the project folder there). Rejects like ensureReady when the load fails.
   */
  async restart(between?: () => void): Promise<LoadedProject> {
    await this.#exclusive(async () => {
      this.#guard.reset();
      this.#o.clock.clearTimeout(this.#restartTimer);
      this.#restartTimer = null;
      this.#restartAt = null;
      await this.#retire('the worker restarts');
      this.#state = 'stopped';
      between?.();
      await this.#startIfStopped();
    });
    return this.ensureReady();
  }

  async #retire(reason: string): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    this.#loaded = null;
    this.#failAll(new WorkerError('worker_restarted', `the call did not complete: ${reason}`));
    if (worker) await worker.shutdown(this.#o.killGraceMs);
  }

  /** Stops the project and the worker for good (server shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#o.clock.clearTimeout(this.#restartTimer);
    await this.stopProject('server shutdown').catch(() => {});
    await this.#exclusive(() => this.#retire('the server is shutting down'));
    this.#state = 'stopped';
  }
}
