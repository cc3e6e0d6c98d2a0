/** Builds the `ctx` objects a Node plugin's functions receive; every call goes to the host. */
import type { RpcChannel } from '../channel.ts';
import type { BusQuery, LogLevel, PushMessage, RunExport, RunUpdate } from '../protocol.ts';
import { BusList, type BusRecord, type PluginContext, type RunContext } from '../types.ts';

export interface ContextDeps {
  channel: RpcChannel;
  pluginId: string;
  dataDir: string;
  getConfig(): Record<string, unknown>;
  setConfig(config: Record<string, unknown>): void;
}

function busClient(deps: ContextDeps, topic: BusQuery['topic']) {
  return {
    async recent(opts: Omit<BusQuery, 'topic'> = {}): Promise<BusList> {
      const rows = await deps.channel.request<BusRecord[]>('bus.recent', { ...opts, topic });
      return BusList.from(rows) as BusList;
    },
  };
}

/** The plugin-wide context; `parentRunId` ties plugin-to-plugin calls to the run that makes them. */
export function pluginContext(deps: ContextDeps, parentRunId?: string): PluginContext {
  const { channel } = deps;
  const log = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
    channel.notify('log', { level, msg: String(msg), fields });
  return {
    pluginId: deps.pluginId,
    dataDir: deps.dataDir,
    config: {
      get: () => deps.getConfig(),
      async update(patch) {
        const next = await channel.request<Record<string, unknown>>('config.update', { patch });
        deps.setConfig(next);
        return next;
      },
    },
    store: {
      get: async <T>(key: string) => ((await channel.request<{ value?: T }>('store.get', { key })).value ?? undefined) as T | undefined,
      set: async (key, value) => void (await channel.request('store.set', { key, value })),
      delete: async (key) => void (await channel.request('store.delete', { key })),
      keys: () => channel.request<string[]>('store.keys', {}),
    },
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    pushMessage(message: PushMessage | string) {
      channel.notify('message', typeof message === 'string' ? { text: message } : message);
    },
    emit(name, data) {
      channel.notify('emit', { name, data: data ?? null });
    },
    bus: {
      messages: busClient(deps, 'messages'),
      events: busClient(deps, 'events'),
      lifecycle: busClient(deps, 'lifecycle'),
      runs: busClient(deps, 'runs'),
    },
    plugins: {
      call: (target, entry, args, opts) =>
        channel.request('plugins.call', { target, entry, args: args ?? {}, timeoutMs: opts?.timeoutMs, parentRunId }),
    },
    printers: {
      list: () => channel.request('printers.list', {}),
      async snapshot(printerId) {
        const r = await channel.request<{ base64: string } | null>('printers.snapshot', { printerId });
        return r ? Buffer.from(r.base64, 'base64') : null;
      },
    },
  };
}

/** The context of one run: the plugin context plus progress, metrics and exports. */
export function runContext(
  deps: ContextDeps,
  run: { id: string; entry: string; trigger: string; deadline: number; signal: AbortSignal },
): RunContext {
  const update = (u: Omit<RunUpdate, 'runId'>) => deps.channel.notify('run.update', { runId: run.id, ...u });
  const exp = (e: RunExport) => update({ exports: [e] });
  return {
    ...pluginContext(deps, run.id),
    run: {
      ...run,
      progress: (progress, stage, message) => update({ progress, stage, message }),
      stage: (stage, message) => update({ stage, message }),
      metric: (name, value) => update({ metrics: { [name]: value } }),
      export: {
        text: (name, text) => exp({ kind: 'text', name, text }),
        url: (name, url) => exp({ kind: 'url', name, url }),
        binary: (name, data, mime = 'application/octet-stream') =>
          exp({ kind: 'binary', name, mime, base64: Buffer.from(data).toString('base64') }),
      },
    },
  };
}
