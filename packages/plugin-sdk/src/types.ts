/**
 * What a plugin author writes against. A Node plugin's entry module default-exports a
 * PluginDefinition (docs/api.md, Plugins); every function gets a context from the SDK runner,
 * which talks to the host over the wire protocol in ./protocol.ts.
 */
import type { LogLevel, PushMessage, RunExport } from './protocol.ts';

export type JsonSchema = Record<string, unknown>;
export type Awaitable<T> = T | Promise<T>;

/** An entry as a bare function: `async (args, ctx) => result`. */
export type EntryHandler<A = any, R = unknown, C = Record<string, unknown>> = (args: A, ctx: RunContext<C>) => Awaitable<R>;

/** An entry with its declaration: input schema (validated by the host), timeout, description. */
export interface EntryDefinition<A = any, R = unknown, C = Record<string, unknown>> {
  handler: EntryHandler<A, R, C>;
  /** JSON Schema of the arguments; calls that do not match are refused with `invalid_input`. */
  input?: JsonSchema;
  /** Seconds; default the manifest's `limits.call_timeout`. */
  timeout?: number;
  description?: string;
}

export interface TimerDefinition<C = Record<string, unknown>> {
  /** Seconds between fires. The host schedules it; each fire is a run, skipped while the last one still runs. */
  every: number;
  handler: (ctx: RunContext<C>) => Awaitable<unknown>;
}

/** A subscription: a domain event (`alert`, `printer.state`, `job.finished`, …) or `custom:<plugin>.<name>`. */
export type EventHandler<C = Record<string, unknown>> = (data: any, ctx: PluginContext<C>, event: { type: string; at: string }) => Awaitable<void>;

/** The object a plugin's entry module exports. Everything is optional; a plugin does what it declares. */
export interface PluginDefinition<C = Record<string, unknown>> {
  /** Callable from HTTP (`POST /api/v1/plugins/:id/entries/:entry`), from other plugins and by capabilities. */
  entries?: Record<string, EntryHandler<any, unknown, C> | EntryDefinition<any, unknown, C>>;
  /** After load, before the plugin counts as online; bounded by `limits.startup_timeout`. */
  startup?: (ctx: PluginContext<C>) => Awaitable<void>;
  /** Before the process ends; bounded by `limits.shutdown_timeout`. */
  shutdown?: (ctx: PluginContext<C>) => Awaitable<void>;
  /**
   * After the config changed (PUT config or ctx.config.update). Without this hook the host restarts
   * the plugin to apply a new config.
   */
  reload?: (ctx: PluginContext<C>) => Awaitable<void>;
  timers?: Record<string, TimerDefinition<C>>;
  events?: Record<string, EventHandler<C>>;
  /** `printer-driver@1` implementations by driver name. */
  printerDrivers?: Record<string, PrinterDriverDefinition<C>>;
}

export interface PluginContext<C = Record<string, unknown>> {
  readonly pluginId: string;
  /** A folder only this plugin writes to. */
  readonly dataDir: string;
  config: {
    /** The current config (validated against the manifest's schema, defaults applied). */
    get(): C;
    /** Merges, validates and stores; rejects with `invalid_config` naming the field. */
    update(patch: Partial<C>): Promise<C>;
  };
  /** Per-plugin key-value store kept in the server's database. Values are JSON. */
  store: {
    get<T = unknown>(key: string): Promise<T | undefined>;
    set(key: string, value: unknown): Promise<void>;
    delete(key: string): Promise<void>;
    keys(): Promise<string[]>;
  };
  log: Record<LogLevel, (msg: string, fields?: Record<string, unknown>) => void>;
  /** A message for people: kept by the host (queryable), shown on the plugins page, pushed to the UI. */
  pushMessage(message: PushMessage | string): void;
  /** A custom event; plugins subscribe to it as `custom:<this plugin's id>.<name>`. */
  emit(name: string, data?: unknown): void;
  /** Seed 004's bus: recent records kept by the host, filterable. */
  bus: {
    messages: BusClient;
    events: BusClient;
    lifecycle: BusClient;
    runs: BusClient;
  };
  plugins: {
    /**
     * Calls another plugin's entry through the host, with a deadline (default 10 s, never past the
     * caller's own). A call back into a plugin already in the call chain is refused (`call_cycle`).
     */
    call<R = unknown>(pluginId: string, entry: string, args?: unknown, opts?: { timeoutMs?: number }): Promise<R>;
  };
  /** The farm as a plugin may see it. */
  printers: {
    list(): Promise<Array<{ id: string; name: string; driver: string; model: string | null; status: string }>>;
    /** Latest camera frame as JPEG, or null when the printer has none. */
    snapshot(printerId: string): Promise<Uint8Array | null>;
  };
}

export interface BusRecord {
  id: number | string;
  pluginId: string;
  type: string;
  at: string;
  data: any;
}

export interface BusQueryOptions {
  limit?: number;
  type?: string;
  since?: string;
  pluginId?: string;
}

export interface BusClient {
  recent(opts?: BusQueryOptions): Promise<BusList>;
}

/** Records newest first, with chainable filters (seed 004's BusList). */
export class BusList extends Array<BusRecord> {
  /** Keeps records for which `fn` is true. */
  where(fn: (r: BusRecord) => boolean): BusList {
    return BusList.from(this.filter(fn)) as BusList;
  }
  ofType(type: string): BusList {
    return this.where((r) => r.type === type);
  }
  take(n: number): BusList {
    return BusList.from(this.slice(0, n)) as BusList;
  }
}

/** The context of one run: an entry call, a timer fire. */
export interface RunContext<C = Record<string, unknown>> extends PluginContext<C> {
  run: {
    readonly id: string;
    readonly entry: string;
    /** `http`, `plugin`, `timer`, `capability`. */
    readonly trigger: string;
    /** Epoch ms after which the host has given up on this run. */
    readonly deadline: number;
    /** Aborted when the run is cancelled or its deadline passes. */
    readonly signal: AbortSignal;
    /** 0–1, with an optional stage name and message. */
    progress(progress: number, stage?: string, message?: string): void;
    stage(stage: string, message?: string): void;
    metric(name: string, value: number): void;
    export: {
      text(name: string, text: string): void;
      url(name: string, url: string): void;
      binary(name: string, data: Uint8Array, mime?: string): void;
    };
  };
}

export type { LogLevel, PushMessage, RunExport };

// ---- printer-driver@1 ----------------------------------------------------------------------------

export type PrinterStatus = 'offline' | 'connecting' | 'unknown' | 'idle' | 'preparing' | 'printing' | 'paused' | 'finished' | 'error';

/**
 * The printer model the server uses (packages/server/src/printers/model.ts). The host checks every
 * state a plugin reports; one that does not fit is shown as `unknown`, never as idle.
 */
export interface PluginPrinterState {
  status: PrinterStatus;
  fullStatus: boolean;
  stale: boolean;
  progress: number | null;
  remainingSeconds: number | null;
  layer: { current: number; total: number } | null;
  temperatures: Record<string, { actual: number; target: number } | undefined>;
  job: { jobId: string | null; fileName: string | null; plate: number | null } | null;
  error: { code: string; message: string } | null;
  notices?: Array<{ level: 'info' | 'warning'; code: string; message: string }>;
  reported?: { model: string | null; nozzleDiameter: number | null; firmware?: string | null };
  stage?: string | null;
  lastJob: { jobId: string | null; outcome: 'finished' | 'failed' | 'cancelled'; at: number } | null;
  connectionNote?: string | null;
  updatedAt: number | null;
}

export interface DriverPrinter {
  printerId: string;
  printerName: string;
  model: string | null;
  connection: Record<string, unknown>;
  settings: Record<string, unknown>;
  staleAfterSeconds?: number;
  /** Call with a fresh full state on every change. */
  onState(state: PluginPrinterState): void;
}

export interface PluginStartJob {
  jobId: string;
  /** Absolute path of the stored file on the server's disk (the plugin runs on the same machine). */
  localPath: string;
  fileName: string;
  fileSize: number;
  fileMd5: string;
  plate: number;
  gcodePath: string | null;
  overrides: { bedLeveling: boolean; flowCalibration: boolean; timelapse: boolean };
  jobName: string;
  onUploadProgress(sentBytes: number, totalBytes: number): void;
  /** Await right before the start command goes out (declare `announcesStartCommand`). */
  beforeStartCommand(): Promise<void>;
}

/** One printer's driver inside the plugin. Commands resolve when the printer confirmed them. */
export interface PluginPrinterDriver {
  start(): Promise<void>;
  stop(): Promise<void>;
  startJob(job: PluginStartJob): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  sendGcode(lines: string[]): Promise<void>;
  snapshot?(): Promise<Uint8Array | null>;
  clearError?(): Promise<void>;
}

export interface PrinterDriverDefinition<C = Record<string, unknown>> {
  /** JSON Schema of the printer's `connection` object (mark secrets in `secretFields`). */
  connectionSchema: JsonSchema;
  secretFields?: string[];
  /** `gcode`, `3mf`. */
  fileKinds?: string[];
  /** True when startJob awaits `beforeStartCommand()` right before the start goes out. */
  announcesStartCommand?: boolean;
  create(printer: DriverPrinter, ctx: PluginContext<C>): PluginPrinterDriver;
}

/** A failure with a stable code the host and callers see (`{code, message}` on the wire). */
export class PluginError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'PluginError';
  }
}
