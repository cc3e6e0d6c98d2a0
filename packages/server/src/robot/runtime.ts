import fs from 'node:fs';
import path from 'node:path';
import { raiseAlert } from '../alerts/raise.ts';
import type { AuthUser } from '../auth/roles.ts';
import type { Config } from '../config/config.ts';
import { badRequest, conflict, isDomainError } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { ControlLock } from './control-lock.ts';
import { Deadman } from './deadman.ts';
import { type ProjectInfo, ProjectStore } from './projects.ts';
import { WorkerError } from './protocol.ts';
import { installRequirements } from './requirements.ts';
import { BUNDLED_DEFAULT_PROJECT, workerSpawnSpec } from './spawn.ts';
import { type Incident, type StopOutcome, WorkerSupervisor } from './supervisor.ts';

/** Every answer of the robot protocol (seed 003): `{status, message, data}`, through the Socket.IO ack. */
export interface Ack {
  status: 'success' | 'error';
  message: string;
  data: Record<string, unknown> | unknown;
}

export const ok = (message: string, data: unknown = {}): Ack => ({ status: 'success', message, data });
export const fail = (code: string, message: string, extra: Record<string, unknown> = {}): Ack => ({
  status: 'error',
  message,
  data: { code, ...extra },
});

/** Socket.IO events a project may not push under (reserved by Socket.IO or by this server). */
const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener', 'error', 'message']);
export const isReservedEvent = (name: string) => RESERVED_EVENTS.has(name) || name.startsWith('robot.') || name.length > 100;

export interface LogLine {
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  at: string;
}

/** What the Socket.IO namespace lets the runtime do to connected clients. */
export interface Broadcaster {
  /** A project push or a server event, to the controller and every observer. */
  emit(event: string, data: unknown): void;
  /** `robot.state` to every client, each told whether it is the controller. */
  state(): void;
  observers(): number;
}

const LOG_RING = 300;
const LOG_FLUSH_MS = 100;
const MAX_LOG_BATCH = 200;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The robot runtime (seed 003): the project store, the worker supervisor, the control lock and the
 * deadman, behind the operations the Socket.IO namespace and the HTTP routes expose. One robot per
 * server; each operation answers an Ack and never throws for bad input.
 */
export class RobotRuntime {
  readonly store: ProjectStore;
  readonly supervisor: WorkerSupervisor;
  readonly lock = new ControlLock();
  readonly deadman: Deadman;
  readonly config: Config;
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #broadcaster: Broadcaster = { emit: () => {}, state: () => {}, observers: () => 0 };
  #logs: LogLine[] = [];
  #pendingLogs: LogLine[] = [];
  #droppedLogs = 0;
  #logTimer: ReturnType<typeof setTimeout> | null = null;
  #updating = false;
  #installing = false;
  #warnedEvents = new Set<string>();
  /** Pushes delivered since start (the bench reads it). */
  pushes = 0;

  constructor(opts: { config: Config; bus: EventBus; clock: Clock; logger: Logger }) {
    this.config = opts.config;
    this.#bus = opts.bus;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    const c = opts.config;
    this.store = new ProjectStore({
      root: c.robotStorageDir ?? path.join(c.dataDir, 'robot'),
      bundledDefault: BUNDLED_DEFAULT_PROJECT,
      limits: { maxFiles: c.robotMaxProjectFiles, maxUnpackedBytes: c.robotMaxUnpackedBytes, maxRatio: c.maxZipRatio },
      clock: opts.clock,
    });
    this.deadman = new Deadman(opts.clock, c.robotDeadmanMs, () => void this.#onDeadman());
    this.supervisor = new WorkerSupervisor({
      clock: opts.clock,
      logger: opts.logger,
      callTimeoutMs: c.robotMaxExecutionSeconds * 1000,
      stopTimeoutMs: c.robotStopTimeoutSeconds * 1000,
      killGraceMs: 2000,
      loadTimeoutMs: Math.max(30, c.robotMaxExecutionSeconds) * 1000,
      prepare: async () => {
        const project = this.store.ensureCurrent();
        const venv = project.language === 'python' ? this.store.currentVenv() : null;
        const projectDir = this.store.currentDir;
        return { project, projectDir, spec: workerSpawnSpec({ project, projectDir, python: c.robotPython, venv }) };
      },
      onPush: (p) => this.#onPush(p.event, p.data),
      onLog: (stream, line) => this.log(stream, line),
      onChange: () => this.broadcastState(),
      onIncident: (i) => this.#onIncident(i),
    });
  }

  /** Prepares the storage (default project in place); `autostart` loads the project at once (demo). */
  start(opts: { autostart: boolean }): void {
    this.store.init();
    if (opts.autostart) void this.supervisor.ensureReady().catch(() => {});
  }

  setBroadcaster(b: Broadcaster): void {
    this.#broadcaster = b;
  }

  /** GET /api/v1/robot and the `robot.state` event. */
  status() {
    const loaded = this.supervisor.loaded;
    let project: unknown = null;
    try {
      project = loaded?.info ?? this.store.info();
    } catch {
      project = null; // nothing in current yet: the default is copied on first start
    }
    const holder = this.lock.holder;
    const d = loaded?.description;
    return {
      controller: holder
        ? { username: holder.user.username, role: holder.user.role, via: holder.user.via, since: new Date(holder.since).toISOString() }
        : null,
      observers: this.#broadcaster.observers(),
      project,
      methods: d
        ? [
            ...d.objects.flatMap((o) => o.methods.map((m) => ({ object: o.name, ...m }))),
            ...d.functions.map((f) => ({ object: '', ...f })),
          ]
        : [],
      objects: d?.objects ?? [],
      hooks: d?.hooks ?? null,
      worker: this.supervisor.snapshot(),
      deadman: { armed: this.deadman.armed, timeoutMs: this.config.robotDeadmanMs },
      limits: {
        maxProjectBytes: this.config.robotMaxProjectBytes,
        maxExecutionSeconds: this.config.robotMaxExecutionSeconds,
        stopTimeoutSeconds: this.config.robotStopTimeoutSeconds,
      },
    };
  }

  broadcastState(): void {
    this.#broadcaster.state();
  }

  recentLogs(): LogLine[] {
    return [...this.#logs];
  }

  /** A log line of the project (stdout/stderr) or the runtime (system); batched to clients. */
  log(stream: LogLine['stream'], line: string): void {
    const entry: LogLine = { stream, line, at: new Date(this.#clock.now()).toISOString() };
    this.#logs.push(entry);
    if (this.#logs.length > LOG_RING) this.#logs.shift();
    if (this.#pendingLogs.length < MAX_LOG_BATCH) this.#pendingLogs.push(entry);
    else this.#droppedLogs++;
    if (stream === 'stdout') this.#logger.debug({ part: 'robot', stream }, line);
    else this.#logger.info({ part: 'robot', stream }, line);
    if (!this.#logTimer) {
      this.#logTimer = setTimeout(() => this.#flushLogs(), LOG_FLUSH_MS);
      this.#logTimer.unref();
    }
  }

  #flushLogs(): void {
    this.#logTimer = null;
    const lines = this.#pendingLogs.splice(0);
    if (this.#droppedLogs) {
      lines.push({ stream: 'system', line: `${this.#droppedLogs} log lines dropped (the project prints faster than clients read)`, at: new Date(this.#clock.now()).toISOString() });
      this.#droppedLogs = 0;
    }
    if (lines.length) this.#broadcaster.emit('robot.log', { lines });
  }

  #onPush(event: string, data: unknown): void {
    if (isReservedEvent(event)) {
      if (!this.#warnedEvents.has(event)) {
        this.#warnedEvents.add(event);
        this.log('system', `push_message("${event.slice(0, 100)}") ignored: that event name is reserved (use another name)`);
      }
      return;
    }
    this.pushes++;
    this.#broadcaster.emit(event, data);
  }

  #onIncident(i: Incident): void {
    this.log('system', i.message);
    const alerts: Record<Incident['kind'], { level: 'warning' | 'error'; code: string }> = {
      crash: { level: 'error', code: 'robot_worker_crashed' },
      crash_loop: { level: 'error', code: 'robot_worker_failed' },
      killed: { level: 'warning', code: 'robot_worker_killed' },
      load_failed: { level: 'warning', code: 'robot_project_load_failed' },
      spawn_failed: { level: 'error', code: 'robot_worker_spawn_failed' },
    };
    const a = alerts[i.kind];
    raiseAlert(this.#bus, { level: a.level, code: a.code, message: `Robot: ${i.message}`, params: { kind: i.kind } });
  }

  async #onDeadman(): Promise<void> {
    const seconds = this.config.robotDeadmanMs / 1000;
    this.log('system', `deadman: no message from the controller for ${seconds} s during a motion; running stop()`);
    const outcome = await this.supervisor.stopProject('deadman');
    this.#broadcaster.emit('robot.stopped', { reason: 'deadman', ...outcome });
    raiseAlert(this.#bus, {
      level: 'warning',
      code: 'robot_deadman_stop',
      message: `Robot stopped: the controller went silent for ${seconds} s during a motion`,
      params: { seconds, outcome: outcome.outcome },
    });
  }

  /** Runs the project's stop() because control ended (disconnect, takeover, release). */
  async stopFor(reason: 'disconnect' | 'takeover' | 'release', by: AuthUser): Promise<StopOutcome> {
    this.deadman.disarm();
    const outcome = await this.supervisor.stopProject(reason);
    if (outcome.outcome !== 'not_running') {
      this.log('system', `stop() after ${reason} of ${by.username}: ${outcome.outcome} in ${outcome.ms} ms`);
    }
    this.#broadcaster.emit('robot.stopped', { reason, by: by.username, ...outcome });
    return outcome;
  }

  /** `process {params: {object, method, args}}`. */
  async process(payload: unknown): Promise<Ack> {
    const params = (payload as { params?: unknown } | null)?.params;
    if (!params || typeof params !== 'object' || Array.isArray(params)) {
      return fail('validation_error', 'process needs {params: {object, method, args}}');
    }
    const { object, method, args } = params as Record<string, unknown>;
    if (object !== undefined && object !== null && typeof object !== 'string') return fail('validation_error', 'params.object must be a string');
    if (typeof method !== 'string' || !method) return fail('validation_error', 'params.method must be a non-empty string');
    if (args !== undefined && args !== null && typeof args !== 'object') {
      return fail('validation_error', 'params.args must be an object (keyword arguments) or an array (positional arguments)');
    }
    const obj = (object as string | null | undefined) ?? '';
    const where = obj ? `${obj}.${method}` : method;
    try {
      await this.supervisor.ensureReady();
      if (this.supervisor.isMotion(obj, method)) this.deadman.arm();
      const result = await this.supervisor.call(obj, method, args ?? null);
      return ok(`${where} done`, result);
    } catch (err) {
      return this.#failure(err, where);
    }
  }

  #failure(err: unknown, where: string): Ack {
    if (err instanceof WorkerError) {
      const message = err.code === 'exception' ? `${where} raised ${err.message}` : err.message + (err.code === 'load_failed' ? this.#requirementsHint() : '');
      return fail(err.code, message, err.traceback ? { traceback: err.traceback } : {});
    }
    if (isDomainError(err)) return fail(err.code, err.message);
    this.#logger.error({ err, part: 'robot' }, 'robot operation failed');
    return fail('internal_error', `internal error: ${(err as Error).message}`);
  }

  /** A load failure of a project whose requirements are not installed says how to install them. */
  #requirementsHint(): string {
    let req: ProjectInfo['requirements'] = null;
    try {
      req = this.store.info().requirements;
    } catch {
      return '';
    }
    if (!req || req.installed || !req.packages.length) return '';
    return `; requirements.txt lists ${req.packages.length} package(s) that are not installed: an admin can install them (POST /api/v1/robot/requirements)`;
  }

  /** `start`: loads the project (current, or the default) and runs its optional start(). */
  async startProject(): Promise<Ack> {
    try {
      const state = this.supervisor.state;
      // After a load error or a crash loop, `start` is the explicit "try again".
      if (state === 'load_error' || state === 'failed' || state === 'restarting') await this.supervisor.restart();
      const started = await this.supervisor.runStartHook();
      const s = this.status();
      return ok('Project started', { project: s.project, methods: s.methods, worker: s.worker, start: started });
    } catch (err) {
      return this.#failure(err, 'start');
    }
  }

  /**
   * `update`: `{data|zip_data: base64 ZIP}` (or binary), `{projectId}` of an HTTP upload, or
   * `{projectId: "default"}` to go back to the default project. The ZIP is
   * checked and unpacked next to the running project first; only a valid project replaces it
   * (stop() time-boxed, worker restarted on the new one). A bad ZIP changes nothing.
   */
  async update(payload: unknown, by: AuthUser): Promise<Ack> {
    if (this.#updating) return fail('update_in_progress', 'another update is still running; wait for its answer');
    this.#updating = true;
    let tempZip: string | null = null;
    try {
      const p = (payload ?? {}) as Record<string, unknown>;
      if (p.projectId === 'default') {
        // Back to the bundled (or admin-edited) default project without a ZIP at hand.
        this.log('system', `update by ${by.username}: back to the default project`);
        const stopped = await this.supervisor.stopProject('update');
        this.deadman.disarm();
        await this.supervisor.restart(() => this.store.restoreDefault());
        const s = this.status();
        return ok('Default project restored and loaded', { project: s.project, methods: s.methods, stopped });
      }
      let zipPath: string;
      let name: string | null = typeof p.name === 'string' ? p.name.slice(0, 200) : null;
      if (typeof p.projectId === 'string') {
        zipPath = this.store.uploadPath(p.projectId);
        name ??= readUploadName(zipPath);
      } else {
        const bytes = decodeZipPayload(p.data ?? p.zip_data, this.config.robotMaxProjectBytes);
        if ('error' in bytes) return bytes.error;
        const upload = this.store.newUpload();
        tempZip = upload.file;
        fs.writeFileSync(tempZip, bytes.buffer);
        zipPath = tempZip;
      }
      const staged = await this.store.stage(zipPath, { name, by: by.username });
      this.log('system', `update by ${by.username}: ${staged.files} files (${staged.entry}); replacing the running project`);
      const stopped = await this.supervisor.stopProject('update');
      this.deadman.disarm();
      try {
        await this.supervisor.restart(() => this.store.activate(staged));
      } catch (err) {
        const s = this.status();
        const ack = this.#failure(err, 'update');
        return { ...ack, message: `the project was installed but did not load: ${ack.message}`, data: { ...(ack.data as object), project: s.project } };
      }
      const s = this.status();
      return ok('Project updated and loaded', { project: s.project, methods: s.methods, files: staged.files, bytes: staged.bytes, stopped });
    } catch (err) {
      return this.#failure(err, 'update');
    } finally {
      this.#updating = false;
      if (tempZip) fs.rm(tempZip, { force: true }, () => {});
    }
  }

  /** `estop`: handled ahead of queued calls, even while a call runs; stop() time-boxed, then kill. */
  async estop(by: AuthUser): Promise<Ack> {
    this.deadman.disarm();
    const outcome = await this.supervisor.estop();
    this.#broadcaster.emit('robot.stopped', { reason: 'estop', by: by.username, ...outcome });
    raiseAlert(this.#bus, {
      level: 'warning',
      code: 'robot_estop',
      message: `Robot e-stop by ${by.username}: ${outcome.outcome === 'killed' ? 'the worker was terminated' : 'stop() ran'}`,
      params: { by: by.username, outcome: outcome.outcome },
    });
    this.log('system', `e-stop by ${by.username}: ${outcome.outcome} in ${outcome.ms} ms`);
    const message =
      outcome.outcome === 'stopped'
        ? `e-stop: stop() ran in ${outcome.ms} ms`
        : outcome.outcome === 'killed'
          ? `e-stop: the worker was terminated (${outcome.detail})`
          : 'e-stop: no project was running';
    return ok(message, outcome);
  }

  /** Admin: installs the current project's requirements.txt into its venv and restarts the worker. */
  async installRequirements(by: AuthUser) {
    if (this.#installing) throw conflict('a requirements install is already running', 'install_in_progress');
    this.#installing = true;
    try {
      return await this.#installRequirements(by);
    } finally {
      this.#installing = false;
    }
  }

  async #installRequirements(by: AuthUser) {
    // Refused before the log says an install started (a refusal is not an install).
    if (!this.store.requirements(this.store.currentDir)) throw badRequest('the current project has no requirements.txt', 'no_requirements');
    this.log('system', `requirements install started by ${by.username}`);
    const result = await installRequirements({
      python: this.config.robotPython,
      pipArgs: this.config.robotPipArgs,
      projectDir: this.store.currentDir,
      venvRoot: this.store.venvRoot,
      timeoutMs: 15 * 60_000,
      onLine: (line) => line && this.log('system', `pip: ${line}`),
    });
    await this.supervisor.stopProject('requirements installed');
    let loadError: string | null = null;
    await this.supervisor.restart().catch((err: Error) => (loadError = err.message));
    return { ...result, loadError };
  }

  /** Starts the worker in the background when nothing runs (a client connected: make reconnects instant). */
  warmUp(): void {
    if (this.supervisor.state === 'stopped') void this.supervisor.ensureReady().catch(() => {});
  }

  async close(): Promise<void> {
    this.deadman.disarm();
    if (this.#logTimer) clearTimeout(this.#logTimer);
    await this.supervisor.close();
  }
}

function readUploadName(zipPath: string): string | null {
  try {
    return fs.readFileSync(`${zipPath}.name`, 'utf8').slice(0, 200) || null;
  } catch {
    return null;
  }
}

/** The ZIP bytes of an `update` payload: base64 text (optionally a data: URL) or binary. */
function decodeZipPayload(data: unknown, maxBytes: number): { buffer: Buffer } | { error: Ack } {
  if (Buffer.isBuffer(data)) return data.length > maxBytes ? { error: tooBig(data.length, maxBytes) } : { buffer: data };
  if (data instanceof ArrayBuffer) return decodeZipPayload(Buffer.from(data), maxBytes);
  if (typeof data !== 'string' || !data) {
    return { error: fail('validation_error', 'update needs {data: <base64 ZIP>} (or zip_data, or {projectId} after POST /api/v1/robot/projects, or {projectId: "default"})') };
  }
  const text = data.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  if (text.length % 4 === 1 || !BASE64.test(text)) return { error: fail('validation_error', 'data is not base64 (standard alphabet A-Z a-z 0-9 + /)') };
  const size = Math.floor((text.length * 3) / 4);
  if (size > maxBytes + 3) return { error: tooBig(size, maxBytes) };
  return { buffer: Buffer.from(text, 'base64') };
}

function tooBig(size: number, max: number): Ack {
  return fail('too_large', `the project ZIP is ${size} bytes, over the limit of ${max} (RWC_ROBOT_MAX_PROJECT_BYTES)`);
}
