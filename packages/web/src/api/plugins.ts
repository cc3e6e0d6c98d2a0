import { ApiRequestError, api, authHeader, refreshTokens } from './http.ts';

/** A plugin as GET /api/v1/plugins lists it. */
export interface PluginInfo {
  id: string;
  name: string;
  version: string;
  description: string;
  state: 'running' | 'starting' | 'stopped' | 'crashed' | 'disabled' | 'failed' | string;
  reason: string | null;
  enabled: boolean;
  source: string;
  runtime: string;
  provides: string[];
  requires: string[];
  dependencies: Array<{ id: string; recommended?: string; supported?: string; untested?: string; conflicts?: string; optional: boolean }>;
  entries: Array<{ name: string; description?: string; input?: JsonSchema; timeout?: number }>;
  timers: Array<{ name: string; every: number }>;
  subscriptions: string[];
  printerDrivers: string[];
  health: { pid: number | null; uptimeSeconds: number | null; lastHeartbeatAt: string | null; restarts: number; recentCrashes: number; inflight: number };
  metrics: {
    calls: number;
    errors: number;
    timeouts: number;
    latencyMs: { p50: number | null; p99: number | null };
    restarts: number;
    eventsDelivered: number;
    eventsDropped: number;
    memoryBytes: number | null;
    cpuPercent: number | null;
  };
  limits: Record<string, number>;
  hasConfig: boolean;
}

export type JsonSchema = Record<string, any>;

export interface PluginConfig {
  config: Record<string, unknown>;
  schema: JsonSchema;
  secrets: Record<string, boolean>;
}

export interface PluginRun {
  id: string;
  pluginId: string;
  entry: string;
  trigger: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  progress: number | null;
  stage: string | null;
  message: string | null;
  metrics: Record<string, number>;
  exports: Array<{ kind: 'text'; name: string; text: string } | { kind: 'url'; name: string; url: string } | { kind: 'binary'; name: string; mime: string; base64: string }>;
  result: unknown;
  error: { code: string; message: string } | null;
  createdAt: string;
  endedAt: string | null;
}

export interface PluginRecord {
  id: number;
  pluginId: string;
  topic: string;
  type: string;
  data: any;
  at: string;
}

export interface LogLine {
  at: string;
  level: string;
  text: string;
}

export const listPlugins = () => api<PluginInfo[]>('/plugins');
export const pluginAction = (id: string, action: 'enable' | 'disable' | 'reload') => api<PluginInfo>(`/plugins/${id}/${action}`, { method: 'POST' });
export const removePlugin = (id: string) => api<void>(`/plugins/${id}`, { method: 'DELETE' });
export const getConfig = (id: string) => api<PluginConfig>(`/plugins/${id}/config`);
export const putConfig = (id: string, config: Record<string, unknown>) => api<PluginConfig>(`/plugins/${id}/config`, { method: 'PUT', body: config });
export const startEntry = (id: string, entry: string, args: unknown) => api<{ runId: string }>(`/plugins/${id}/entries/${encodeURIComponent(entry)}`, { method: 'POST', body: args ?? {} });
export const getRun = (runId: string) => api<PluginRun>(`/runs/${runId}`);
export const cancelRun = (runId: string) => api<PluginRun>(`/runs/${runId}/cancel`, { method: 'POST' });
export const listRuns = (id: string) => api<PluginRun[]>(`/plugins/${id}/runs?limit=50`);
export const listRecords = (id: string, topic: 'messages' | 'events' | 'lifecycle') => api<PluginRecord[]>(`/plugins/${id}/${topic}?limit=100`);
export const installFromPath = (path: string) => api<PluginInfo>('/plugins', { method: 'POST', body: { path } });

/** Installs a .tgz (multipart field "file"). */
export async function installTgz(file: File): Promise<PluginInfo> {
  const send = () => {
    const form = new FormData();
    form.append('file', file, file.name);
    return fetch('api/v1/plugins', { method: 'POST', headers: authHeader(), body: form });
  };
  let res = await send();
  if (res.status === 401 && (await refreshTokens())) res = await send();
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok) throw new ApiRequestError(res.status, body.error?.code ?? `http_${res.status}`, body.error?.message ?? `HTTP ${res.status}`);
  return body as unknown as PluginInfo;
}

/**
 * Follows a plugin's log (NDJSON over a long GET, with the Authorization header, which an
 * EventSource cannot send). Returns a function that stops following.
 */
export function followLogs(id: string, tail: number, onLine: (l: LogLine) => void): () => void {
  const ctl = new AbortController();
  void (async () => {
    try {
      const res = await fetch(`api/v1/plugins/${id}/logs?follow=true&tail=${tail}`, { headers: authHeader(), signal: ctl.signal });
      if (!res.ok || !res.body) return;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onLine(JSON.parse(line) as LogLine);
          nl = buf.indexOf('\n');
        }
      }
    } catch {
      // aborted or the connection dropped: the caller follows again when it wants to
    }
  })();
  return () => ctl.abort();
}
