/**
 * One plugin process: spawn, handshake, RPC channel, heartbeats, memory watchdog, kill. It knows
 * nothing of restarts or state; it reports how it ended (`onExit`) and the supervisor decides.
 *
 * The process gets its own process group (`detached`), so a kill also ends helpers it spawned; the
 * fd-3 socket pair carries the protocol, stdout/stderr become log lines. Its environment is an
 * allow-list: server secrets such as RWC_DATABASE_URL never reach plugin code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RpcChannel } from '@rwc/plugin-sdk/channel';
import { type HelloParams, HOST_API_VERSION, type LoadedInfo, PROTOCOL_VERSIONS, type Pong } from '@rwc/plugin-sdk/protocol';
import pidusage from 'pidusage';
import type { Clock, TimerHandle } from '../util/clock.ts';
import type { PluginManifest } from './manifest.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where the Python SDK (the `rwc_plugin` package) lives; put on PYTHONPATH. */
export const pythonSdkDir = path.resolve(here, '../../../plugin-sdk/python');

export type ExitKind =
  | 'crashed'
  | 'heartbeat'
  | 'memory_limit'
  | 'call_timeout'
  | 'startup_timeout'
  | 'handshake_failed'
  | 'stopped';

export interface ExitInfo {
  kind: ExitKind;
  message: string;
  code: number | null;
  signal: string | null;
}

export interface ProcessOptions {
  manifest: PluginManifest;
  dir: string;
  /** What the runner imports/loads (the built `.mjs`, or the `.py` file). */
  entryPath: string;
  /** The bundled Node runner; unused for Python plugins. */
  runnerPath: string | null;
  dataDir: string;
  config: Record<string, unknown>;
  clock: Clock;
  heartbeatIntervalMs: number;
  pythonCommand: string;
  onLog(stream: 'stdout' | 'stderr', line: string): void;
  onRequest(method: string, params: any): Promise<unknown>;
  onNotification(method: string, params: any): void;
  onExit(info: ExitInfo): void;
}

const ENV_ALLOW = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'NODE_ENV', 'SYSTEMROOT'];

export class PluginProcess {
  readonly cookie = crypto.randomBytes(24).toString('hex');
  #o: ProcessOptions;
  #child: ChildProcess | null = null;
  #channel: RpcChannel | null = null;
  #wire: Duplex | null = null;
  #killReason: { kind: ExitKind; message: string } | null = null;
  #exited = false;
  #heartbeat: TimerHandle | null = null;
  #pingSentAt: number | null = null;
  #oomSeen = false;
  rssBytes = 0;
  cpuPercent = 0;
  startedAt = 0;
  lastPongAt = 0;

  constructor(opts: ProcessOptions) {
    this.#o = opts;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Bytes written to the plugin that it has not read yet. */
  get backlogBytes(): number {
    return this.#wire?.writableLength ?? 0;
  }

  get alive(): boolean {
    return !!this.#child && !this.#exited;
  }

  /** Spawns, waits for a valid `hello`, sends `load`; resolves with what the plugin declares. */
  async launch(): Promise<LoadedInfo> {
    const { manifest, clock } = this.#o;
    const env: NodeJS.ProcessEnv = {};
    for (const k of ENV_ALLOW) if (process.env[k] !== undefined) env[k] = process.env[k];
    env.RWC_PLUGIN_COOKIE = this.cookie;
    env.RWC_PLUGIN_PROTOCOL = PROTOCOL_VERSIONS.join(',');
    env.RWC_PLUGIN_ID = manifest.id;
    let cmd: string;
    let args: string[];
    if (manifest.runtime === 'node') {
      cmd = process.execPath;
      args = [`--max-old-space-size=${Math.max(16, manifest.limits.memoryMb)}`, this.#o.runnerPath!];
    } else {
      cmd = this.#o.pythonCommand;
      args = ['-u', '-m', 'rwc_plugin.runner'];
      env.PYTHONPATH = pythonSdkDir;
      env.PYTHONDONTWRITEBYTECODE = '1';
    }
    const child = spawn(cmd, args, { cwd: this.#o.dir, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    this.#child = child;
    this.startedAt = clock.now();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', (code, signal) => this.#onExit(code, signal));
    child.once('error', (err) => {
      this.#killReason ??= { kind: 'crashed', message: `cannot start ${cmd}: ${err.message}` };
      this.#onExit(null, null);
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const rl = readline.createInterface({ input: child[stream]! });
      rl.on('line', (line) => {
        if (stream === 'stderr' && /heap out of memory|MemoryError/.test(line)) this.#oomSeen = true;
        this.#o.onLog(stream, line);
      });
    }

    let helloResolve!: (h: HelloParams) => void;
    const hello = new Promise<HelloParams>((r) => (helloResolve = r));
    this.#wire = child.stdio[3] as Duplex;
    this.#channel = new RpcChannel(this.#wire, {
      onRequest: (method, params) => this.#o.onRequest(method, params),
      onNotification: (method, params) => {
        if (method === 'hello') helloResolve(params as HelloParams);
        else this.#o.onNotification(method, params);
      },
      onProtocolError: (err) => this.kill('crashed', `protocol error: ${err.message}`),
    });

    const startupMs = manifest.limits.startupTimeoutSeconds * 1000;
    const h = await this.#within(Promise.race([hello, exited.then(() => null)]), startupMs, 'no hello from the plugin');
    if (!h) throw new Error(this.#exitMessage('the plugin exited before its handshake'));
    if (h.cookie !== this.cookie) {
      this.kill('handshake_failed', 'the plugin answered with a wrong cookie');
      throw new Error('handshake failed: wrong cookie');
    }
    const protocol = Math.max(...(h.protocolVersions ?? []).filter((v) => (PROTOCOL_VERSIONS as readonly number[]).includes(v)));
    if (!Number.isFinite(protocol)) {
      this.kill('handshake_failed', `no common protocol version (plugin speaks ${JSON.stringify(h.protocolVersions)})`);
      throw new Error('handshake failed: no common protocol version');
    }
    const loaded = await this.#within(
      this.request<LoadedInfo>('load', {
        protocolVersion: protocol,
        hostApiVersion: HOST_API_VERSION,
        pluginId: manifest.id,
        entry: this.#o.entryPath,
        dataDir: this.#o.dataDir,
        config: this.#o.config,
      }),
      startupMs,
      'the plugin did not finish loading',
    );
    this.#startHeartbeat();
    return loaded;
  }

  /** Runs the plugin's startup hook within its startup timeout. */
  async startup(reason: 'start' | 'restart' | 'reload'): Promise<void> {
    await this.#within(this.request('start', { reason }), this.#o.manifest.limits.startupTimeoutSeconds * 1000, 'startup hook did not finish');
  }

  request<T = unknown>(method: string, params: unknown): Promise<T> {
    if (!this.#channel || this.#exited) return Promise.reject(Object.assign(new Error('the plugin is not running'), { code: 'plugin_unavailable' }));
    return this.#channel.request<T>(method, params);
  }

  notify(method: string, params: unknown): void {
    this.#channel?.notify(method, params);
  }

  /** Kills the process group at once; `onExit` reports `kind`. */
  kill(kind: ExitKind, message: string): void {
    if (this.#exited || !this.#child) return;
    this.#killReason ??= { kind, message };
    this.#signal('SIGKILL');
  }

  /** Asks the plugin to shut down (its hook, within the shutdown timeout), then ends the process. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.#killReason ??= { kind: 'stopped', message: 'stopped' };
    const ms = this.#o.manifest.limits.shutdownTimeoutSeconds * 1000;
    await this.#within(this.request('lifecycle', { hook: 'shutdown' }), ms, 'shutdown hook').catch(() => {});
    if (!this.alive) return;
    const gone = new Promise<void>((r) => this.#child!.once('exit', () => r()));
    this.#signal('SIGTERM');
    const timer = setTimeout(() => this.#signal('SIGKILL'), Math.min(ms, 2000));
    await gone;
    clearTimeout(timer);
  }

  #signal(sig: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        this.#child!.kill(sig);
      } catch {}
    }
  }

  #within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = this.#o.clock.setTimeout(() => {
        this.kill('startup_timeout', `${what} within ${ms / 1000} s`);
        reject(Object.assign(new Error(`${what} within ${ms / 1000} s`), { code: 'timeout' }));
      }, ms);
      p.then(
        (v) => {
          this.#o.clock.clearTimeout(t);
          resolve(v);
        },
        (e) => {
          this.#o.clock.clearTimeout(t);
          reject(e);
        },
      );
    });
  }

  #startHeartbeat(): void {
    const { clock, manifest } = this.#o;
    const timeoutMs = manifest.limits.heartbeatTimeoutSeconds * 1000;
    const limitBytes = manifest.limits.memoryMb * 1024 * 1024;
    this.lastPongAt = clock.now();
    this.#heartbeat = clock.setInterval(() => {
      if (this.#exited) return;
      const now = clock.now();
      if (this.#pingSentAt !== null && now - this.#pingSentAt > timeoutMs) {
        this.kill('heartbeat', `no heartbeat answer for ${Math.round((now - this.#pingSentAt) / 100) / 10} s (event loop blocked or hung)`);
        return;
      }
      const pid = this.pid;
      if (pid) {
        pidusage(pid)
          .then((s) => {
            this.rssBytes = s.memory;
            this.cpuPercent = s.cpu;
            if (s.memory > limitBytes) {
              this.kill('memory_limit', `resident memory ${Math.round(s.memory / 1048576)} MiB passed the limit of ${manifest.limits.memoryMb} MiB`);
            }
          })
          .catch(() => {});
      }
      if (this.#pingSentAt !== null) return;
      this.#pingSentAt = now;
      this.request<Pong>('ping', {})
        .then(() => {
          this.lastPongAt = clock.now();
          this.#pingSentAt = null;
        })
        .catch(() => {});
    }, this.#o.heartbeatIntervalMs);
  }

  #exitMessage(fallback: string): string {
    return this.#killReason?.message ?? fallback;
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#o.clock.clearInterval(this.#heartbeat);
    this.#channel?.close(new Error('the plugin process ended'));
    const pid = this.#child?.pid;
    if (pid) pidusage.clear?.();
    let kind: ExitKind = this.#killReason?.kind ?? 'crashed';
    let message = this.#killReason?.message ?? `exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
    if (!this.#killReason && this.#oomSeen) {
      kind = 'memory_limit';
      message = `ran out of memory (limit ${this.#o.manifest.limits.memoryMb} MiB)`;
    }
    this.#o.onExit({ kind, message, code, signal });
  }
}
