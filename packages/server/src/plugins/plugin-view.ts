/** How a plugin looks in the API (GET /api/v1/plugins): state, health, metrics, what it offers. */
import type { Broken, PluginSource } from './discovery.ts';
import type { ManagedPlugin } from './managed-plugin.ts';
import type { PluginManifest } from './manifest.ts';
import type { MetricsView } from './metrics.ts';

/** A plugin as GET /api/v1/plugins shows it. */
export interface PluginView {
  id: string;
  name: string;
  version: string;
  description: string;
  state: string;
  reason: string | null;
  enabled: boolean;
  source: PluginSource;
  runtime: string;
  provides: string[];
  requires: string[];
  dependencies: PluginManifest['dependencies'];
  entries: Array<{ name: string; description?: string; input?: Record<string, unknown>; timeout?: number }>;
  timers: Array<{ name: string; every: number }>;
  subscriptions: string[];
  printerDrivers: string[];
  health: { pid: number | null; uptimeSeconds: number | null; lastHeartbeatAt: string | null; restarts: number; recentCrashes: number; inflight: number };
  metrics: MetricsView;
  limits: PluginManifest['limits'];
  hasConfig: boolean;
}


export function pluginView(mp: ManagedPlugin, now: number): PluginView {
  const m = mp.manifest;
  const proc = mp.process?.alive ? mp.process : null;
  return {
    id: mp.id,
    name: m.name,
    version: m.version,
    description: m.description,
    state: mp.state,
    reason: mp.reason,
    enabled: mp.enabled,
    source: mp.source as PluginSource,
    runtime: m.runtime,
    provides: m.provides.map((c) => `${c.kind}@${c.version}`),
    requires: m.requires.map((c) => `${c.kind}@${c.version}${c.optional ? '?' : ''}`),
    dependencies: m.dependencies,
    entries: mp.loaded?.entries ?? [],
    timers: mp.loaded?.timers ?? [],
    subscriptions: mp.loaded?.subscriptions ?? [],
    printerDrivers: (mp.loaded?.printerDrivers ?? []).map((d) => d.name),
    health: {
      pid: proc?.pid ?? null,
      uptimeSeconds: proc && mp.state === 'running' && mp.startedAt ? Math.round((now - mp.startedAt) / 1000) : null,
      lastHeartbeatAt: proc?.lastPongAt ? new Date(proc.lastPongAt).toISOString() : null,
      restarts: mp.metrics.restarts,
      recentCrashes: mp.crashGuard.recent(now),
      inflight: mp.inflightCount,
    },
    metrics: mp.metrics.view(proc),
    limits: m.limits,
    hasConfig: Object.keys((m.config.schema.properties as object) ?? {}).length > 0,
  };
}

/** A plugin folder whose manifest could not be read: listed as failed, with the reason. */
export function brokenView(id: string, b: Broken): PluginView {
  return {
    id,
    name: id,
    version: '0.0.0',
    description: '',
    state: 'failed',
    reason: b.error,
    enabled: false,
    source: b.source,
    runtime: 'unknown',
    provides: [],
    requires: [],
    dependencies: [],
    entries: [],
    timers: [],
    subscriptions: [],
    printerDrivers: [],
    health: { pid: null, uptimeSeconds: null, lastHeartbeatAt: null, restarts: 0, recentCrashes: 0, inflight: 0 },
    metrics: { calls: 0, errors: 0, timeouts: 0, latencyMs: { p50: null, p99: null }, restarts: 0, eventsDelivered: 0, eventsDropped: 0, memoryBytes: null, cpuPercent: null },
    limits: {} as PluginManifest['limits'],
    hasConfig: false,
  };
}
