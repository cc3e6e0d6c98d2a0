/**
 * The process a Node plugin runs in. The host starts it as `node runner.mjs` with the fd-3 socket
 * pair, then: hello → load (import the plugin's entry module) → start → calls, events, pings.
 * Calls run as async tasks, so the read loop stays free for `ping` and `cancel`: a plugin that
 * blocks its event loop stops answering pings, and that is how the host sees it.
 */
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { RpcChannel } from '../channel.ts';
import { pluginFromClass } from '../index.ts';
import {
  HOST_API_VERSION,
  type InvokeParams,
  type LoadedInfo,
  type LoadParams,
  PROTOCOL_VERSIONS,
  SDK_VERSION,
} from '../protocol.ts';
import type { EntryDefinition, PluginContext, PluginDefinition, PluginPrinterDriver } from '../types.ts';
import { type ContextDeps, pluginContext, runContext } from './context.ts';

const cookie = process.env.RWC_PLUGIN_COOKIE ?? '';
delete process.env.RWC_PLUGIN_COOKIE;

let definition: PluginDefinition = {};
let entries = new Map<string, EntryDefinition>();
let config: Record<string, unknown> = {};
let ctx: PluginContext | null = null;
let deps: ContextDeps | null = null;
const runs = new Map<string, AbortController>();
const drivers = new Map<string, PluginPrinterDriver>();

const socket = new net.Socket({ fd: 3, readable: true, writable: true });
const channel = new RpcChannel(socket, {
  onRequest: (method, params) => handle(method, params as any),
  onNotification: (method, params: any) => {
    if (method === 'cancel') runs.get(params?.runId)?.abort(new Error('cancelled'));
    else if (method === 'event') void deliver(params);
  },
  // The host is gone (or spoke garbage): nothing can reach this plugin any more.
  onClose: () => process.exit(0),
});

function fail(code: string, message: string): never {
  throw Object.assign(new Error(message), { code });
}

function normalise(raw: unknown): PluginDefinition {
  let def = raw as any;
  if (typeof def === 'function' && def.prototype) def = pluginFromClass(def);
  if (!def || typeof def !== 'object') fail('bad_plugin', 'the entry module must default-export the object definePlugin() takes');
  return def as PluginDefinition;
}

async function load(p: LoadParams): Promise<LoadedInfo> {
  config = p.config;
  const mod = await import(pathToFileURL(p.entry).href);
  definition = normalise(mod.default ?? mod);
  entries = new Map();
  for (const [name, e] of Object.entries(definition.entries ?? {})) {
    if (typeof e === 'function') entries.set(name, { handler: e });
    else if (e && typeof e === 'object' && typeof (e as EntryDefinition).handler === 'function') entries.set(name, e as EntryDefinition);
    else fail('bad_plugin', `entries.${name} must be a function or {handler, input?, timeout?}`);
  }
  deps = { channel, pluginId: p.pluginId, dataDir: p.dataDir, getConfig: () => config, setConfig: (c) => (config = c) };
  ctx = pluginContext(deps);
  const timers = Object.entries(definition.timers ?? {}).map(([name, t]) => {
    if (!t || typeof t.handler !== 'function' || !(t.every > 0)) fail('bad_plugin', `timers.${name} needs every (seconds > 0) and handler`);
    return { name, every: t.every };
  });
  return {
    entries: [...entries].map(([name, e]) => ({ name, description: e.description, input: e.input, timeout: e.timeout })),
    timers,
    subscriptions: Object.keys(definition.events ?? {}),
    hooks: (['startup', 'shutdown', 'reload'] as const).filter((h) => typeof definition[h] === 'function'),
    printerDrivers: Object.entries(definition.printerDrivers ?? {}).map(([name, d]) => ({
      name,
      connectionSchema: d.connectionSchema ?? { type: 'object' },
      secretFields: d.secretFields ?? [],
      fileKinds: d.fileKinds,
      announcesStartCommand: d.announcesStartCommand ?? false,
    })),
  };
}

async function invoke(p: InvokeParams): Promise<unknown> {
  const timer = p.entry.startsWith('timer:') ? definition.timers?.[p.entry.slice(6)] : undefined;
  const e = timer ? null : entries.get(p.entry);
  if (!timer && !e) fail('no_such_entry', `this plugin has no entry "${p.entry}"`);
  const abort = new AbortController();
  runs.set(p.runId, abort);
  const untilDeadline = setTimeout(() => abort.abort(new Error('deadline passed')), Math.max(0, p.deadline - Date.now()));
  try {
    const rctx = runContext(deps!, { id: p.runId, entry: p.entry, trigger: p.trigger, deadline: p.deadline, signal: abort.signal });
    return timer ? await timer.handler(rctx) : await e!.handler(p.args, rctx);
  } finally {
    clearTimeout(untilDeadline);
    runs.delete(p.runId);
  }
}

async function deliver(p: { type: string; data: unknown; at: string }): Promise<void> {
  const handler = definition.events?.[p.type];
  if (!handler || !ctx) return;
  try {
    await handler(p.data, ctx, { type: p.type, at: p.at });
  } catch (err) {
    ctx.log.error(`event handler ${p.type} failed: ${(err as Error).message}`);
  }
}

function driverOf(handle: string): PluginPrinterDriver {
  return drivers.get(handle) ?? fail('no_such_driver', `no printer driver instance ${handle}`);
}

async function driverCall(p: { handle: string; op: string; args?: any }): Promise<unknown> {
  const d = driverOf(p.handle);
  switch (p.op) {
    case 'startJob':
      return d.startJob({
        ...p.args,
        onUploadProgress: (sentBytes: number, totalBytes: number) =>
          channel.notify('driver.uploadProgress', { handle: p.handle, sentBytes, totalBytes }),
        beforeStartCommand: () => channel.request('driver.beforeStartCommand', { handle: p.handle, jobId: p.args.jobId }).then(() => {}),
      });
    case 'sendGcode':
      return d.sendGcode(p.args?.lines ?? []);
    case 'snapshot': {
      const jpeg = d.snapshot ? await d.snapshot() : null;
      return jpeg ? { base64: Buffer.from(jpeg).toString('base64') } : null;
    }
    case 'clearError':
      return d.clearError?.();
    case 'start':
    case 'stop':
    case 'pause':
    case 'resume':
    case 'cancel':
      return d[p.op]();
    default:
      fail('bad_request', `unknown driver operation ${p.op}`);
  }
}

async function handle(method: string, p: any): Promise<unknown> {
  switch (method) {
    case 'ping': {
      const m = process.memoryUsage();
      return { rssBytes: m.rss, heapUsedBytes: m.heapUsed };
    }
    case 'load':
      return load(p);
    case 'start':
      await definition.startup?.(ctx!);
      return {};
    case 'invoke':
      return invoke(p);
    case 'lifecycle':
      if (p.hook === 'configChanged') {
        config = p.config ?? config;
        await definition.reload?.(ctx!);
      } else if (p.hook === 'reload') await definition.reload?.(ctx!);
      else if (p.hook === 'shutdown') {
        await Promise.allSettled([...drivers.values()].map((d) => d.stop()));
        await definition.shutdown?.(ctx!);
        // Answer first, then leave: the host waits for the exit.
        setImmediate(() => process.exit(0));
      }
      return {};
    case 'driver.create': {
      const def = definition.printerDrivers?.[p.driver] ?? fail('no_such_driver', `this plugin has no printer driver "${p.driver}"`);
      const instance = def.create({ ...p.printer, onState: (state) => channel.notify('driver.state', { handle: p.handle, state }) }, ctx!);
      drivers.set(p.handle, instance);
      return {};
    }
    case 'driver.call':
      return driverCall(p);
    case 'driver.dispose': {
      const d = drivers.get(p.handle);
      drivers.delete(p.handle);
      await d?.stop().catch(() => {});
      return {};
    }
    default:
      fail('no_such_method', `unknown method ${method}`);
  }
}

channel.notify('hello', {
  protocolVersions: [...PROTOCOL_VERSIONS],
  apiVersion: HOST_API_VERSION,
  sdk: { lang: 'node', version: SDK_VERSION },
  cookie,
  pid: process.pid,
});
