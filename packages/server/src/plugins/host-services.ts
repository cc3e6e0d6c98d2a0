import type { LoadedInfo } from '@rwc/plugin-sdk/protocol';
import type { EventBus } from '../events/bus.ts';
import type { Clock } from '../util/clock.ts';
import type { PluginBuilder } from './build.ts';
import type { CallOptions, ManagedPlugin } from './managed-plugin.ts';
import type { PluginLogs } from './plugin-logs.ts';
import type { PluginRepo } from './plugin-repo.ts';
import type { RunTracker } from './runs.ts';

/** Timing and runtime knobs of the host (tests shorten them). */
export interface HostOptions {
  /** How often each plugin is pinged and its memory read. */
  heartbeatIntervalMs: number;
  /** After a call's deadline, how long a plugin may take to give up before it is killed. */
  cancelGraceMs: number;
  /** The Python used for `runtime = "python"` plugins. */
  pythonCommand: string;
}

/** What a plugin's supervisor needs from the host that owns it (one object, no positional wiring). */
export interface HostServices {
  bus: EventBus;
  clock: Clock;
  repo: PluginRepo;
  runs: RunTracker;
  logs: PluginLogs;
  builder: PluginBuilder;
  options: HostOptions;
  dataDirOf(pluginId: string): string;
  nextCallId(): number;
  /** Why the plugin cannot start now (dependencies, required capabilities), or null. */
  preflight(mp: ManagedPlugin): string | null;
  /** Whether what the plugin declared at load fits its manifest (capability contracts), or why not. */
  checkContract(mp: ManagedPlugin, loaded: LoadedInfo): string | null;
  onOnline(mp: ManagedPlugin): void;
  onOffline(mp: ManagedPlugin, why: string): void;
  onDisabled(mp: ManagedPlugin, reason?: string): void;
  updateConfig(mp: ManagedPlugin, next: Record<string, unknown>, by: 'api' | 'plugin'): Promise<Record<string, unknown>>;
  busRecent(callerId: string, query: Record<string, unknown>): Promise<unknown[]>;
  callPlugin(target: string, entry: string, args: unknown, opts: CallOptions): Promise<unknown>;
  printersList(): unknown[];
  printerSnapshot(printerId: string): Promise<{ base64: string } | null>;
  driverBeforeStart(mp: ManagedPlugin, handle: string): Promise<void>;
  driverNotification(mp: ManagedPlugin, method: string, params: any): void;
  customEvent(mp: ManagedPlugin, name: string, data: unknown): void;
}
