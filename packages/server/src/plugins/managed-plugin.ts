/**
 * The supervisor of one plugin: its state (running, starting, stopped, crashed, disabled, failed),
 * its process, restarts with backoff and the crash-loop guard, calls with deadlines, timers and
 * the requests the plugin makes of the host. A dead or hung plugin fails its own calls and runs;
 * nothing it does reaches the rest of the server except through this object.
 */
import type { LoadedInfo, RunUpdate } from '@rwc/plugin-sdk/protocol';
import { MAX_CALL_DEPTH } from '@rwc/plugin-sdk/protocol';
import { raiseAlert } from '../alerts/raise.ts';
import { DomainError, type ValidationError } from '../errors.ts';
import type { TimerHandle } from '../util/clock.ts';
import { CrashGuard } from './crash-guard.ts';
import type { HostServices } from './host-services.ts';
import { validateAgainst } from './json-schema.ts';
import type { PluginManifest } from './manifest.ts';
import { PluginMetrics } from './metrics.ts';
import { type ExitInfo, PluginProcess } from './plugin-process.ts';

export type PluginState = 'running' | 'starting' | 'stopped' | 'crashed' | 'disabled' | 'failed';

export interface CallOptions {
  trigger: 'http' | 'timer' | 'plugin' | 'capability';
  /** Plugin ids of the callers, outermost first. */
  callChain?: string[];
  /** Absolute deadline (epoch ms) the caller can wait until. */
  deadline?: number;
  parentRunId?: string | null;
  /** Keep a run record (HTTP, timers, plugin calls). */
  record?: boolean;
  /** Skip input validation (capability proxies build their own arguments). */
  trusted?: boolean;
}

interface Inflight {
  entry: string;
  callChain: string[];
  deadline: number;
  startedAt: number;
  recorded: boolean;
  settle(outcome: { ok: true; value: unknown } | { ok: false; error: DomainError }): void;
}

/** A failure of a plugin call, with a stable code (and an HTTP kind when it reaches the API). */
export function callError(code: string, message: string, kind: DomainError['kind'] = 'unavailable'): DomainError {
  return new DomainError(kind, code, message);
}

const exitCodes: Record<string, string> = {
  crashed: 'plugin_crashed',
  heartbeat: 'plugin_unresponsive',
  memory_limit: 'plugin_memory_limit',
  call_timeout: 'plugin_killed_after_timeout',
  startup_timeout: 'plugin_startup_timeout',
  handshake_failed: 'plugin_handshake_failed',
  stopped: 'plugin_stopped',
};

export class ManagedPlugin {
  readonly id: string;
  manifest: PluginManifest;
  dir: string;
  source: string;
  enabled: boolean;
  /** Decrypted, validated config. */
  config: Record<string, unknown>;
  state: PluginState = 'stopped';
  reason: string | null = null;
  loaded: LoadedInfo | null = null;
  process: PluginProcess | null = null;
  readonly metrics = new PluginMetrics();
  crashGuard: CrashGuard;
  /** Set once the host gave up (crash loop) so a late restart timer does nothing. */
  #restartTimer: TimerHandle | null = null;
  #timers: TimerHandle[] = [];
  #timerRuns = new Map<string, string>();
  #inflight = new Map<string, Inflight>();
  #waiters = new Set<() => void>();
  #stopping = false;
  #generation = 0;
  startedAt: number | null = null;

  constructor(
    private readonly h: HostServices,
    init: { manifest: PluginManifest; dir: string; source: string; enabled: boolean; config: Record<string, unknown>; disabledReason: string | null },
  ) {
    this.id = init.manifest.id;
    this.manifest = init.manifest;
    this.dir = init.dir;
    this.source = init.source;
    this.enabled = init.enabled;
    this.config = init.config;
    this.crashGuard = new CrashGuard(init.manifest.limits);
    if (!init.enabled) {
      this.state = 'disabled';
      this.reason = init.disabledReason;
    }
  }

  #setState(state: PluginState, reason: string | null): void {
    const changed = this.state !== state || this.reason !== reason;
    this.state = state;
    this.reason = reason;
    if (changed) this.h.bus.emit('plugin.state', { pluginId: this.id, state, reason });
    if (state !== 'starting' && state !== 'crashed') for (const w of [...this.#waiters]) w();
  }

  #lifecycle(kind: string, detail: Record<string, unknown> = {}): void {
    this.h.repo.record(this.id, 'lifecycle', kind, detail);
    this.h.logs.write(this.id, 'host', `${kind}${Object.keys(detail).length ? ` ${JSON.stringify(detail)}` : ''}`);
  }

  #startInFlight: Promise<void> | null = null;

  /** Starts the process (if enabled); resolves once it is running or has failed/crashed. */
  start(reason: 'start' | 'restart' | 'reload' = 'start'): Promise<void> {
    // A start already under way is the one the caller waits for.
    if (this.#startInFlight) return this.#startInFlight;
    const p = this.#start(reason).finally(() => {
      if (this.#startInFlight === p) this.#startInFlight = null;
    });
    this.#startInFlight = p;
    return p;
  }

  async #start(reason: 'start' | 'restart' | 'reload'): Promise<void> {
    if (!this.enabled) return this.#setState('disabled', this.reason);
    if (this.process?.alive) return;
    this.h.clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    this.#stopping = false;
    const generation = ++this.#generation;
    const pre = this.h.preflight(this);
    if (pre) {
      this.#lifecycle('failed', { reason: pre });
      return this.#setState('failed', pre);
    }
    this.#setState('starting', reason === 'start' ? null : reason);
    let entryPath: string;
    let runnerPath: string | null = null;
    try {
      entryPath = this.manifest.runtime === 'node' ? await this.h.builder.entryPath(this.dir, this.manifest.entry) : `${this.dir}/${this.manifest.entry}`;
      if (this.manifest.runtime === 'node') runnerPath = await this.h.builder.runnerPath();
    } catch (err) {
      const msg = `cannot build ${this.manifest.entry}: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`;
      this.#lifecycle('failed', { reason: msg });
      return this.#setState('failed', msg);
    }
    if (generation !== this.#generation || !this.enabled) return;
    const proc: PluginProcess = new PluginProcess({
      manifest: this.manifest,
      dir: this.dir,
      entryPath,
      runnerPath,
      dataDir: this.h.dataDirOf(this.id),
      config: this.config,
      clock: this.h.clock,
      heartbeatIntervalMs: this.h.options.heartbeatIntervalMs,
      pythonCommand: this.h.options.pythonCommand,
      onLog: (stream, line) => this.h.logs.write(this.id, stream, line),
      onRequest: (method, params): Promise<unknown> => this.#onRequest(proc, method, params),
      onNotification: (method, params) => this.#onNotification(method, params),
      onExit: (info) => this.#onExit(proc, info),
    });
    this.process = proc;
    this.#lifecycle('spawned', { reason });
    let loaded: LoadedInfo;
    try {
      loaded = await proc.launch();
    } catch (err) {
      // A plugin that dies or hangs while loading is a crash (restart with backoff).
      proc.kill('crashed', `load failed: ${(err as Error).message}`);
      return;
    }
    const problem = this.h.checkContract(this, loaded);
    if (problem) {
      this.#lifecycle('failed', { reason: problem });
      this.#stopping = true;
      proc.kill('stopped', problem);
      return this.#setState('failed', problem);
    }
    this.loaded = loaded;
    try {
      await proc.startup(reason);
    } catch (err) {
      proc.kill('crashed', `startup failed: ${(err as Error).message}`);
      return;
    }
    if (!proc.alive || this.process !== proc) return;
    this.startedAt = this.h.clock.now();
    this.#lifecycle('online', { pid: proc.pid, reason });
    this.#setState('running', null);
    this.#startTimers();
    this.h.onOnline(this);
  }

  /** Stops the process (shutdown hook within its timeout). The plugin stays enabled. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.h.clock.clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    this.#generation++;
    const proc = this.process;
    if (proc?.alive) {
      this.#stopTimers();
      await proc.stop();
    }
    if (this.enabled && this.state !== 'failed') this.#setState('stopped', null);
  }

  /** A person (or the host) disables it: stopped and left stopped, remembered in the database. */
  async disable(reason: string | null): Promise<void> {
    this.enabled = false;
    await this.stop();
    this.#setState('disabled', reason);
    this.#lifecycle('disabled', { reason });
    this.h.onDisabled(this);
  }

  async enable(): Promise<void> {
    this.enabled = true;
    this.crashGuard.reset();
    this.#setState('stopped', null);
    this.#lifecycle('enabled');
    await this.start('start');
  }

  #onExit(proc: PluginProcess, info: ExitInfo): void {
    if (this.process !== proc) return;
    this.#stopTimers();
    const code = exitCodes[info.kind] ?? 'plugin_crashed';
    for (const [runId, f] of [...this.#inflight]) {
      this.#inflight.delete(runId);
      f.settle({ ok: false, error: callError(code, `plugin ${this.id} ${info.message}`) });
    }
    this.h.onOffline(this, info.message);
    if (this.#stopping || info.kind === 'stopped') {
      this.#lifecycle('stopped', { code: info.code, signal: info.signal });
      return;
    }
    this.#lifecycle(info.kind === 'crashed' ? 'crashed' : 'killed', { kind: info.kind, message: info.message, code: info.code, signal: info.signal });
    const decision = this.crashGuard.recordCrash(this.h.clock.now());
    if (decision.action === 'disable') {
      const why = `crashed ${decision.crashes} times within ${this.manifest.limits.crashWindowSeconds} s (last: ${info.message})`;
      this.enabled = false;
      this.#setState('disabled', why);
      this.#lifecycle('disabled', { reason: 'crash_loop', detail: why });
      this.h.onDisabled(this, 'crash_loop');
      raiseAlert(this.h.bus, {
        level: 'error',
        code: 'plugin_disabled',
        message: `Plugin ${this.manifest.name} was disabled: it ${why}`,
        params: { pluginId: this.id, crashes: decision.crashes, reason: info.kind },
      });
      return;
    }
    this.metrics.restarts++;
    this.#setState('crashed', `${info.message}; restarting in ${decision.delayMs / 1000} s`);
    this.#lifecycle('restarting', { inMs: decision.delayMs, crashes: decision.crashes });
    this.#restartTimer = this.h.clock.setTimeout(() => {
      this.#restartTimer = null;
      if (this.enabled && this.state === 'crashed') void this.start('restart');
    }, decision.delayMs);
  }

  // ---- calls ----

  /** Waits until the plugin runs, or the deadline passes, or it will not run (disabled, failed, stopped). */
  #whenRunning(deadline: number): Promise<boolean> {
    if (this.state === 'running') return Promise.resolve(true);
    if (this.state !== 'starting' && this.state !== 'crashed') return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        this.h.clock.clearTimeout(t);
        resolve(this.state === 'running');
      };
      const t = this.h.clock.setTimeout(done, Math.max(0, deadline - this.h.clock.now()));
      this.#waiters.add(done);
    });
  }

  entryInfo(entry: string) {
    return this.loaded?.entries.find((e) => e.name === entry);
  }

  /**
   * Calls an entry (or `timer:<name>`). Resolves with its result; rejects with a DomainError whose
   * code says why (`timeout`, `plugin_crashed`, `call_cycle`, `invalid_input`, …).
   */
  call(entry: string, args: unknown, opts: CallOptions): { runId: string | null; result: Promise<unknown> } {
    const now = this.h.clock.now();
    const chain = opts.callChain ?? [];
    if (chain.includes(this.id)) {
      const err = callError('call_cycle', `call cycle refused: ${[...chain, this.id].join(' → ')} (plugin ${this.id} is already waiting in this chain)`, 'conflict');
      return { runId: null, result: Promise.reject(err) };
    }
    if (chain.length >= MAX_CALL_DEPTH) {
      return { runId: null, result: Promise.reject(callError('call_depth', `call chain deeper than ${MAX_CALL_DEPTH}: ${chain.join(' → ')}`, 'conflict')) };
    }
    const info = entry.startsWith('timer:') ? null : this.entryInfo(entry);
    const timeoutMs = (info?.timeout ?? this.manifest.limits.callTimeoutSeconds) * 1000;
    const deadline = Math.min(opts.deadline ?? Number.POSITIVE_INFINITY, now + timeoutMs);
    const run = opts.record ? this.h.runs.create({ pluginId: this.id, entry, trigger: opts.trigger, parentRunId: opts.parentRunId }) : null;
    const runId = run?.id ?? `c-${this.h.nextCallId()}`;
    const result = this.#dispatch(runId, entry, args, { ...opts, callChain: chain }, deadline, !!run);
    return { runId: run?.id ?? null, result };
  }

  async #dispatch(runId: string, entry: string, args: unknown, opts: CallOptions, deadline: number, recorded: boolean): Promise<unknown> {
    const started = this.h.clock.now();
    const finishRun = (o: { ok: true; value: unknown } | { ok: false; error: DomainError }) => {
      if (!recorded) return;
      if (o.ok) this.h.runs.finish(runId, { status: 'succeeded', result: o.value });
      else this.h.runs.finish(runId, { status: o.error.code === 'cancelled' ? 'cancelled' : 'failed', error: { code: o.error.code, message: o.error.message } });
    };
    try {
      if (!(await this.#whenRunning(deadline))) {
        throw callError('plugin_unavailable', `plugin ${this.id} is ${this.state}${this.reason ? ` (${this.reason})` : ''}`);
      }
      if (!entry.startsWith('timer:')) {
        const info = this.entryInfo(entry);
        if (!info) throw callError('no_such_entry', `plugin ${this.id} has no entry "${entry}"`, 'not_found');
        if (info.input && !opts.trusted) {
          try {
            args = validateAgainst(info.input, args ?? {}, 'args');
          } catch (err) {
            throw new DomainError('invalid', 'invalid_input', (err as ValidationError).message, { field: (err as ValidationError).field });
          }
        }
      }
      if (recorded && !this.h.runs.isLive(runId)) throw callError('cancelled', 'cancelled before it started', 'conflict');
      const value = await this.#send(runId, entry, args, opts, deadline, recorded);
      this.metrics.recordCall(this.h.clock.now() - started, 'ok');
      finishRun({ ok: true, value });
      return value;
    } catch (e) {
      const error = e instanceof DomainError ? e : callError('plugin_error', (e as Error).message);
      this.metrics.recordCall(this.h.clock.now() - started, error.code === 'timeout' ? 'timeout' : 'error');
      finishRun({ ok: false, error });
      throw error;
    }
  }

  #send(runId: string, entry: string, args: unknown, opts: CallOptions, deadline: number, recorded: boolean): Promise<unknown> {
    const proc = this.process!;
    return new Promise((resolve, reject) => {
      let settled = false;
      let graceTimer: TimerHandle | null = null;
      const deadlineTimer = this.h.clock.setTimeout(
        () => {
          if (settled) return;
          settle({ ok: false, error: callError('timeout', `entry ${this.id}.${entry} did not answer within ${((deadline - started) / 1000).toFixed(1)} s`) }, true);
          proc.notify('cancel', { runId });
          // A handler that ignores its cancellation holds the plugin: the only sure stop is the kill.
          graceTimer = this.h.clock.setTimeout(() => {
            if (this.#inflight.has(runId)) {
              this.#inflight.delete(runId);
              proc.kill('call_timeout', `entry ${entry} ignored its deadline`);
            }
          }, this.h.options.cancelGraceMs);
        },
        Math.max(0, deadline - this.h.clock.now()),
      );
      const started = this.h.clock.now();
      const settle = (o: { ok: true; value: unknown } | { ok: false; error: DomainError }, keepInflight = false) => {
        if (settled) return;
        settled = true;
        this.h.clock.clearTimeout(deadlineTimer);
        if (!keepInflight) {
          this.#inflight.delete(runId);
          this.h.clock.clearTimeout(graceTimer);
        }
        if (o.ok) resolve(o.value);
        else reject(o.error);
      };
      this.#inflight.set(runId, {
        entry,
        callChain: opts.callChain ?? [],
        deadline,
        startedAt: started,
        recorded,
        settle: (o) => {
          this.#inflight.delete(runId);
          this.h.clock.clearTimeout(graceTimer);
          settle(o);
        },
      });
      if (recorded) this.h.runs.markRunning(runId, () => proc.notify('cancel', { runId }));
      this.h.repo.record(this.id, 'events', 'entry', { runId, entry, trigger: opts.trigger, callChain: opts.callChain ?? [] });
      proc
        .request('invoke', { runId, entry, args: args ?? {}, deadline, callChain: opts.callChain ?? [], trigger: opts.trigger })
        .then(
          (value) => this.#inflight.get(runId)?.settle({ ok: true, value }) ?? settle({ ok: true, value }),
          (err: { code?: string; message?: string }) => {
            // The pipe closes a moment before the exit is seen: the exit settles with the real reason.
            if (err.code === 'channel_closed') return;
            const error = callError(typeof err.code === 'string' ? err.code : 'plugin_error', err.message ?? String(err), 'unavailable');
            if (this.#inflight.has(runId)) this.#inflight.get(runId)!.settle({ ok: false, error });
            else settle({ ok: false, error });
          },
        );
    });
  }

  /** The run a plugin-to-plugin call is made from (for its chain and deadline). */
  inflight(runId: string | undefined): Inflight | undefined {
    return runId ? this.#inflight.get(runId) : undefined;
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  // ---- timers ----

  #startTimers(): void {
    for (const t of this.loaded?.timers ?? []) {
      const handle = this.h.clock.setInterval(() => {
        if (this.state !== 'running') return;
        const last = this.#timerRuns.get(t.name);
        if (last && this.h.runs.isLive(last)) return; // the previous fire still runs: skip this one
        const { runId, result } = this.call(`timer:${t.name}`, {}, { trigger: 'timer', record: true });
        if (runId) this.#timerRuns.set(t.name, runId);
        result.catch(() => {});
      }, Math.max(10, t.every * 1000));
      this.#timers.push(handle);
    }
  }

  #stopTimers(): void {
    for (const t of this.#timers) this.h.clock.clearInterval(t);
    this.#timers = [];
  }

  // ---- what the plugin asks of the host ----

  async #onRequest(proc: PluginProcess, method: string, p: any): Promise<unknown> {
    if (this.process !== proc) throw callError('plugin_stopped', 'this process was replaced');
    switch (method) {
      case 'store.get':
        return { value: await this.h.repo.storeGet(this.id, String(p?.key)) };
      case 'store.set':
        return this.h.repo.storeSet(this.id, String(p?.key), p?.value);
      case 'store.delete':
        return this.h.repo.storeDelete(this.id, String(p?.key));
      case 'store.keys':
        return this.h.repo.storeKeys(this.id);
      case 'config.get':
        return this.config;
      case 'config.update':
        return this.h.updateConfig(this, { ...this.config, ...(p?.patch ?? {}) }, 'plugin');
      case 'bus.recent':
        return this.h.busRecent(this.id, p ?? {});
      case 'plugins.call': {
        const parent = this.inflight(p?.parentRunId);
        const callChain = [...(parent?.callChain ?? []), this.id];
        const timeoutMs = typeof p?.timeoutMs === 'number' && p.timeoutMs > 0 ? p.timeoutMs : 10_000;
        const deadline = Math.min(parent?.deadline ?? Number.POSITIVE_INFINITY, this.h.clock.now() + timeoutMs);
        return this.h.callPlugin(String(p?.target), String(p?.entry), p?.args, { trigger: 'plugin', callChain, deadline, parentRunId: parent ? p.parentRunId : null, record: true });
      }
      case 'printers.list':
        return this.h.printersList();
      case 'printers.snapshot':
        return this.h.printerSnapshot(String(p?.printerId));
      case 'driver.beforeStartCommand':
        return this.h.driverBeforeStart(this, String(p?.handle));
      default:
        throw callError('no_such_method', `the host has no method ${method}`, 'not_found');
    }
  }

  #onNotification(method: string, p: any): void {
    switch (method) {
      case 'log': {
        const level = ['debug', 'info', 'warn', 'error'].includes(p?.level) ? p.level : 'info';
        this.h.logs.write(this.id, level, `${String(p?.msg ?? '')}${p?.fields ? ` ${JSON.stringify(p.fields)}` : ''}`);
        return;
      }
      case 'message': {
        const message = {
          type: typeof p?.type === 'string' ? p.type.slice(0, 60) : 'text',
          level: ['info', 'warning', 'error'].includes(p?.level) ? p.level : 'info',
          title: typeof p?.title === 'string' ? p.title.slice(0, 200) : null,
          text: String(p?.text ?? '').slice(0, 4000),
          data: p?.data ?? null,
        };
        this.h.repo.record(this.id, 'messages', message.type, message);
        this.h.bus.emit('plugin.message', { pluginId: this.id, message });
        return;
      }
      case 'emit':
        if (typeof p?.name === 'string') this.h.customEvent(this, p.name, p.data);
        return;
      case 'run.update':
        if (typeof p?.runId === 'string') this.h.runs.update(p as RunUpdate);
        return;
      case 'driver.state':
      case 'driver.uploadProgress':
        this.h.driverNotification(this, method, p);
        return;
    }
  }
}
