/**
 * The host ⇄ plugin wire protocol, version 1. Shared by the server's plugin host, the Node runner
 * and (by hand, in snake_case) the Python runner in ../python/rwc_plugin/runner.py.
 *
 * Transport: newline-delimited JSON on file descriptor 3 (a socket pair the host creates with a 4th
 * `'pipe'` stdio entry), so the plugin's stdout/stderr stay free for its own prints, which the host
 * keeps as log lines. Messages are JSON-RPC 2.0 shaped without the `jsonrpc` member:
 * - request `{id, method, params}` → response `{id, result}` or `{id, error: {code, message, data?}}`
 * - notification `{method, params}` (no id).
 * Both sides send requests; each numbers its own. One message is at most MAX_LINE_BYTES.
 *
 * Handshake (hashicorp go-plugin style, Homebridge child-bridge states):
 * 1. the host spawns the plugin with env RWC_PLUGIN_COOKIE (random) and RWC_PLUGIN_PROTOCOL;
 * 2. plugin → `hello` {protocolVersions, apiVersion, sdk, cookie, pid} (notification);
 *    the host drops a plugin whose cookie is wrong or that speaks no common protocol version;
 * 3. host → `load` {protocolVersion, hostApiVersion, pluginId, entry, dataDir, config} → LoadedInfo;
 * 4. host → `start` {reason} (runs the plugin's startup hook) → {};
 * 5. the host marks the plugin online and starts heartbeats (`ping`).
 */

/** Protocol versions this SDK speaks, newest last. */
export const PROTOCOL_VERSIONS = [1] as const;
/** The plugin API version the host implements; a manifest's `api` range must include it. */
export const HOST_API_VERSION = '1.0.0';
/** SDK package version (the TypeScript and Python SDKs move together). */
export const SDK_VERSION = '1.0.0';
/** Longest accepted message line; larger payloads (frames, files) belong in files, not on the wire. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Deepest chain of plugin-to-plugin calls (A → B → C …) the host lets through. */
export const MAX_CALL_DEPTH = 8;

export interface WireError {
  /** snake_case: `timeout`, `cancelled`, `call_cycle`, `invalid_input`, `no_such_entry`, `plugin_unavailable`, … */
  code: string;
  message: string;
  data?: unknown;
}

export type WireMessage =
  | { id: number; method: string; params?: unknown }
  | { id: number; result?: unknown }
  | { id: number; error: WireError }
  | { method: string; params?: unknown };

export interface HelloParams {
  protocolVersions: number[];
  /** The plugin API version the SDK was written against. */
  apiVersion: string;
  sdk: { lang: 'node' | 'python'; version: string };
  cookie: string;
  pid: number;
}

export interface LoadParams {
  protocolVersion: number;
  hostApiVersion: string;
  pluginId: string;
  /** Absolute path of the module (Node) or file (Python) to load. */
  entry: string;
  /** A folder only this plugin writes to. */
  dataDir: string;
  /** The validated config (secrets included: the plugin needs them). */
  config: Record<string, unknown>;
}

/** What a plugin declares about itself once its module is loaded. */
export interface LoadedInfo {
  entries: EntryInfo[];
  timers: TimerInfo[];
  /** Domain event types (`printer.state`, `alert`, …) and custom events (`custom:<plugin>.<name>`). */
  subscriptions: string[];
  /** Lifecycle hooks the plugin has: startup, shutdown, reload, configChanged. */
  hooks: string[];
  printerDrivers: PrinterDriverInfo[];
}

export interface EntryInfo {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object; the host validates calls against it. */
  input?: Record<string, unknown>;
  /** Seconds; default the manifest's call timeout. */
  timeout?: number;
}

export interface TimerInfo {
  name: string;
  /** Seconds between fires. */
  every: number;
}

/** A `printer-driver@1` kind the plugin implements. */
export interface PrinterDriverInfo {
  /** The `driver` value of POST /api/v1/printers. */
  name: string;
  /** JSON Schema of `connection`; the host validates with it (validateConnection is synchronous). */
  connectionSchema: Record<string, unknown>;
  secretFields: string[];
  fileKinds?: string[];
  announcesStartCommand?: boolean;
}

export interface InvokeParams {
  runId: string;
  entry: string;
  args: unknown;
  /** Absolute deadline, epoch milliseconds. */
  deadline: number;
  /** Plugin ids of the callers, outermost first (empty for HTTP, timers and capability calls). */
  callChain: string[];
  /** Why: `http`, `plugin`, `timer`, `capability`. */
  trigger: string;
}

/** Host → plugin requests. */
export type HostRequest =
  | { method: 'load'; params: LoadParams }
  | { method: 'start'; params: { reason: 'start' | 'restart' | 'reload' } }
  | { method: 'invoke'; params: InvokeParams }
  | { method: 'lifecycle'; params: { hook: 'shutdown' | 'reload' | 'configChanged'; config?: Record<string, unknown> } }
  | { method: 'ping'; params: Record<string, never> }
  | { method: 'driver.create'; params: { handle: string; driver: string; printer: DriverPrinterInfo } }
  | { method: 'driver.call'; params: { handle: string; op: DriverOp; args?: unknown } }
  | { method: 'driver.dispose'; params: { handle: string } };

export type DriverOp =
  | 'start'
  | 'stop'
  | 'startJob'
  | 'pause'
  | 'resume'
  | 'cancel'
  | 'sendGcode'
  | 'snapshot'
  | 'clearError';

export interface DriverPrinterInfo {
  printerId: string;
  printerName: string;
  model: string | null;
  connection: Record<string, unknown>;
  settings: Record<string, unknown>;
  staleAfterSeconds?: number;
}

/** Answer to `ping`: measured inside the plugin's event loop, so a blocked loop never answers. */
export interface Pong {
  rssBytes: number;
  heapUsedBytes: number;
}

/** Host → plugin notifications. */
export type HostNotification =
  | { method: 'event'; params: { type: string; data: unknown; at: string } }
  | { method: 'cancel'; params: { runId: string } };

/** Plugin → host requests. */
export type PluginRequest =
  | { method: 'plugins.call'; params: { target: string; entry: string; args: unknown; timeoutMs?: number; parentRunId?: string } }
  | { method: 'store.get'; params: { key: string } }
  | { method: 'store.set'; params: { key: string; value: unknown } }
  | { method: 'store.delete'; params: { key: string } }
  | { method: 'store.keys'; params: Record<string, never> }
  | { method: 'config.get'; params: Record<string, never> }
  | { method: 'config.update'; params: { patch: Record<string, unknown> } }
  | { method: 'bus.recent'; params: BusQuery }
  | { method: 'printers.list'; params: Record<string, never> }
  | { method: 'printers.snapshot'; params: { printerId: string } }
  | { method: 'driver.beforeStartCommand'; params: { handle: string; jobId: string } };

export interface BusQuery {
  /** What to read: seed 004's bus topics. */
  topic: 'messages' | 'events' | 'lifecycle' | 'runs';
  /** Another plugin's records; default the caller's own. */
  pluginId?: string;
  limit?: number;
  /** Only records of this type/kind (message type, event type, lifecycle kind, run status). */
  type?: string;
  /** Only records after this ISO time. */
  since?: string;
}

/** Plugin → host notifications. */
export type PluginNotification =
  | { method: 'log'; params: { level: LogLevel; msg: string; fields?: Record<string, unknown> } }
  | { method: 'message'; params: PushMessage }
  | { method: 'emit'; params: { name: string; data: unknown } }
  | { method: 'run.update'; params: RunUpdate }
  | { method: 'driver.state'; params: { handle: string; state: unknown } }
  | { method: 'driver.uploadProgress'; params: { handle: string; sentBytes: number; totalBytes: number } };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** `ctx.pushMessage()`: something a plugin wants people (the UI) to see. */
export interface PushMessage {
  /** Free-form kind: `text`, `detection`, `status`, … */
  type?: string;
  level?: 'info' | 'warning' | 'error';
  title?: string;
  text: string;
  data?: unknown;
}

/** Progress of a run, sent while its handler works. Every field is optional. */
export interface RunUpdate {
  runId: string;
  /** 0–1. */
  progress?: number;
  stage?: string;
  message?: string;
  metrics?: Record<string, number>;
  exports?: RunExport[];
}

/** A result a run hands out besides its return value. Binary data travels as base64. */
export type RunExport =
  | { kind: 'text'; name: string; text: string }
  | { kind: 'url'; name: string; url: string }
  | { kind: 'binary'; name: string; mime: string; base64: string };
