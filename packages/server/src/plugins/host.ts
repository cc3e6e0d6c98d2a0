/**
 * The plugin host: finds plugins, keeps their enabled flag and config in the database, runs each
 * enabled one in its own process (managed-plugin.ts), routes calls between HTTP, plugins and
 * capabilities, delivers domain events to subscribers, and keeps records, runs and logs.
 *
 * Design (docs/decisions.md, Plugins): Homebridge child bridges for the per-plugin process and its
 * states, go-plugin's handshake with a cookie, VS Code's crash-loop guard, seed 004's entries,
 * runs, bus records and A1 call policy. One crash never takes the farm down: a plugin's failure
 * ends in its own state, its own runs and an alert.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadedInfo } from '@rwc/plugin-sdk/protocol';
import type { Infra } from '../app-context.ts';
import { DomainError, ValidationError, badRequest, conflict, notFound } from '../errors.ts';
import type { DomainEvent } from '../events/bus.ts';
import type { FleetPrinter } from '../printers/fleet-types.ts';
import { PluginBuilder } from './build.ts';
import { judgeDependencies, startOrder } from './dependencies.ts';
import { type Broken, type Found, type PluginSource, discover } from './discovery.ts';
import type { HostOptions, HostServices } from './host-services.ts';
import { copyInto, inspectFolder, unpackTgz } from './install.ts';
import { compileSchema, validateAgainst } from './json-schema.ts';
import { type CallOptions, ManagedPlugin, callError } from './managed-plugin.ts';
import { type PluginManifest, readManifest } from './manifest.ts';
import { PluginConfigs } from './plugin-config.ts';
import { PluginLogs } from './plugin-logs.ts';
import { PluginRepo, type RecordTopic, type Retention, defaultRetention } from './plugin-repo.ts';
import { CapabilityBridge } from './proxies/capability-bridge.ts';
import { RunTracker, publicRun } from './runs.ts';
import { type PluginView, brokenView, pluginView } from './plugin-view.ts';

export type { PluginView };

const here = path.dirname(fileURLToPath(import.meta.url));
/** The plugins that ship with the server (packages/plugins). */
export const builtinPluginsDir = path.resolve(here, '../../../plugins');

/** What the host needs from the fleet: printers for plugins, and a nudge when a driver kind appears. */
export interface FleetAccess {
  list(): FleetPrinter[];
  get(printerId: string): FleetPrinter | undefined;
  refreshDriver(driver: string): Promise<void>;
}

export interface PluginHostOptions extends Partial<HostOptions> {
  /** Folders whose sub-folders are built-in plugins; default packages/plugins. */
  builtinDirs?: string[];
  /** node_modules folders scanned for plugin packages. */
  npmRoots?: string[];
  retention?: Partial<Retention>;
  /** Plugin ids to enable on first discovery even if their manifest says otherwise (the demo). */
  enableOnFirstSight?: string[];
  /** Largest unpacked `.tgz` install. */
  maxInstallBytes?: number;
}

const notDelivered = new Set(['auth.revoked', 'plugin.run']);

export class PluginHost {
  readonly repo: PluginRepo;
  readonly runs: RunTracker;
  readonly logs: PluginLogs;
  readonly bridge: CapabilityBridge;
  #infra: Infra;
  #fleet: FleetAccess;
  #opts: PluginHostOptions;
  #hostOptions: HostOptions;
  #builder: PluginBuilder;
  #configs: PluginConfigs;
  #plugins = new Map<string, ManagedPlugin>();
  #broken: Broken[] = [];
  #cyclic = new Set<string>();
  #callIds = 1;
  #owner = {};
  #starting: Promise<void> = Promise.resolve();
  #pruneTimer: ReturnType<Infra['clock']['setInterval']> | null = null;
  readonly pluginsDir: string;

  constructor(infra: Infra, fleet: FleetAccess, opts: PluginHostOptions = {}) {
    this.#infra = infra;
    this.#fleet = fleet;
    this.#opts = opts;
    this.#hostOptions = {
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 1000,
      cancelGraceMs: opts.cancelGraceMs ?? 2000,
      pythonCommand: opts.pythonCommand ?? 'python3',
    };
    const dataDir = infra.config.dataDir;
    this.pluginsDir = path.join(dataDir, 'plugins');
    this.repo = new PluginRepo({
      db: infra.storage.db,
      clock: infra.clock,
      logger: infra.logger.child({ part: 'plugins' }),
      retention: { ...defaultRetention, ...(opts.retention ?? {}) },
    });
    this.runs = new RunTracker({ repo: this.repo, bus: infra.bus, clock: infra.clock, logger: infra.logger });
    this.logs = new PluginLogs({ dir: path.join(dataDir, 'plugin-logs'), maxBytes: 1024 * 1024, keep: 3, memoryLines: 500, now: () => infra.clock.now() });
    this.#builder = new PluginBuilder(path.join(dataDir, 'plugin-cache'));
    this.#configs = new PluginConfigs(infra.secrets);
    this.bridge = new CapabilityBridge({
      registry: infra.registry,
      logger: infra.logger.child({ part: 'plugins' }),
      call: (mp, entry, args, o) => mp.call(entry, args, o).result,
      driverRegistered: (name) => void this.#fleet.refreshDriver(name).catch((err) => infra.logger.error({ err, name }, 'printers could not pick up a plugin driver')),
      printerIds: () => this.#fleet.list().map((p) => p.summary.id),
    });
  }

  // ---- the services a plugin's supervisor uses ----

  #servicesCache: HostServices | null = null;

  #services(): HostServices {
    if (this.#servicesCache) return this.#servicesCache;
    const infra = this.#infra;
    this.#servicesCache = {
      bus: infra.bus,
      clock: infra.clock,
      repo: this.repo,
      runs: this.runs,
      logs: this.logs,
      builder: this.#builder,
      options: this.#hostOptions,
      dataDirOf: (id) => {
        const dir = path.join(infra.config.dataDir, 'plugin-data', id);
        fs.mkdirSync(dir, { recursive: true });
        return dir;
      },
      nextCallId: () => this.#callIds++,
      preflight: (mp) => this.#preflight(mp),
      checkContract: (mp, loaded) => this.#checkContract(mp, loaded),
      onOnline: (mp) => {
        this.bridge.online(mp, () => infra.clock.now());
        // Someone may have been waiting for this plugin (a dependency) or its capability.
        for (const other of this.#plugins.values()) {
          if (other !== mp && other.state === 'failed' && other.enabled && /^needs /.test(other.reason ?? '')) void other.start();
        }
      },
      onOffline: (mp, why) => this.bridge.offline(mp, why),
      onDisabled: (mp, reason) => {
        this.bridge.unregister(mp, 'disabled');
        void this.repo.updatePlugin(mp.id, { enabled: 0, disabled_reason: reason ?? null });
      },
      updateConfig: (mp, next, by) => this.#applyConfig(mp, next, by),
      busRecent: (caller, q) => this.#busRecent(caller, q),
      callPlugin: (target, entry, args, o) => this.#target(target).call(entry, args, o).result,
      printersList: () =>
        this.#fleet.list().map((p) => ({ id: p.summary.id, name: p.summary.name, driver: p.summary.driver, model: p.summary.model, status: p.state.status })),
      printerSnapshot: (id) => this.#snapshot(id),
      driverBeforeStart: async (mp, handle) => {
        const proxy = this.bridge.driver(mp.id, handle);
        if (!proxy) throw callError('no_such_driver', `no printer driver instance ${handle}`, 'not_found');
        await proxy.beforeStartCommand();
      },
      driverNotification: (mp, method, p) => {
        const proxy = this.bridge.driver(mp.id, String(p?.handle));
        if (!proxy) return;
        if (method === 'driver.state') proxy.onReport(p.state);
        else proxy.onUploadProgress(Number(p.sentBytes) || 0, Number(p.totalBytes) || 0);
      },
      customEvent: (mp, name, data) => {
        if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) return;
        const type = `custom:${mp.id}.${name}`;
        this.repo.record(mp.id, 'events', 'custom', { name: type, data });
        this.#deliver({ type, data, at: new Date(infra.clock.now()).toISOString() });
      },
    };
    return this.#servicesCache;
  }

  #target(id: string): ManagedPlugin {
    const mp = this.#plugins.get(id);
    if (!mp) throw notFound(`plugin ${id}`, 'plugin_not_found');
    return mp;
  }

  // ---- start and stop ----

  /** Reads what is installed and starts every enabled plugin (in the background: see whenStarted). */
  async start(): Promise<void> {
    this.repo.start();
    this.runs.start();
    await this.repo.failOrphanedRuns();
    await this.repo.prune().catch((err) => this.#infra.logger.warn({ err }, 'plugin retention failed'));
    this.#pruneTimer = this.#infra.clock.setInterval(() => void this.repo.prune().catch(() => {}), 10 * 60_000);
    this.#infra.bus.onAny(this.#owner, (e) => this.#deliver(e));
    this.#infra.bus.on('printer.added', this.#owner, () => this.#refreshCovers());
    this.#infra.bus.on('printer.removed', this.#owner, () => this.#refreshCovers());
    await this.#sync();
    this.#starting = this.#startAll();
  }

  /** Resolves once the first start of every enabled plugin has settled (running, failed, crashed). */
  whenStarted(): Promise<void> {
    return this.#starting;
  }

  async stop(): Promise<void> {
    this.#infra.bus.removeListeners(this.#owner);
    this.#infra.clock.clearInterval(this.#pruneTimer);
    await this.#starting.catch(() => {});
    await Promise.allSettled([...this.#plugins.values()].map((mp) => mp.stop()));
    for (const r of this.runs.liveRuns()) this.runs.finish(r.id, { status: 'failed', error: { code: 'server_stopping', message: 'the server stopped' } });
    await this.runs.stop();
    await this.repo.stop();
    this.logs.close();
  }

  #discover(): { found: Found[]; broken: Broken[] } {
    const repoRoot = path.resolve(here, '../../../..');
    return discover({
      dataPluginsDir: this.pluginsDir,
      npmRoots: this.#opts.npmRoots ?? [path.join(this.#infra.config.dataDir, 'node_modules'), path.join(repoRoot, 'node_modules')],
      builtinDirs: this.#opts.builtinDirs ?? [builtinPluginsDir],
    });
  }

  /** Brings the in-memory plugins in line with discovery and the database. */
  async #sync(): Promise<void> {
    const { found, broken } = this.#discover();
    this.#broken = broken;
    const rows = new Map((await this.repo.listPlugins()).map((r) => [r.id, r]));
    for (const f of found) {
      if (this.#plugins.has(f.manifest.id)) continue;
      let row = rows.get(f.manifest.id);
      if (!row) {
        const enabled = f.manifest.defaultEnabled || (this.#opts.enableOnFirstSight ?? []).includes(f.manifest.id);
        row = await this.repo.insertPlugin({
          id: f.manifest.id,
          enabled: enabled ? 1 : 0,
          config_json: JSON.stringify(this.#configs.defaults(f.manifest)),
          source: f.source,
          dir: f.dir,
          disabled_reason: null,
        });
      } else if (row.dir !== f.dir) {
        await this.repo.updatePlugin(row.id, { dir: f.dir, source: row.source === 'installed' && f.source === 'folder' ? 'installed' : f.source });
      }
      const source = (row.source === 'installed' && f.source === 'folder' ? 'installed' : f.source) as PluginSource;
      const mp = new ManagedPlugin(this.#services(), {
        manifest: f.manifest,
        dir: f.dir,
        source,
        enabled: row.enabled === 1,
        config: this.#configs.unseal(f.manifest, row.config_json),
        disabledReason: row.disabled_reason,
      });
      this.#plugins.set(mp.id, mp);
      if (!mp.enabled) this.logs.write(mp.id, 'host', `discovered (${source}), disabled${row.disabled_reason ? `: ${row.disabled_reason}` : ''}`);
    }
    this.#cyclic = new Set(startOrder([...this.#plugins.values()].map((m) => m.manifest)).cyclic);
  }

  async #startAll(): Promise<void> {
    const { order } = startOrder([...this.#plugins.values()].map((m) => m.manifest));
    for (const id of [...order, ...this.#cyclic]) {
      const mp = this.#plugins.get(id);
      if (mp?.enabled) await mp.start().catch((err) => this.#infra.logger.error({ err, plugin: id }, 'plugin start failed'));
    }
  }

  // ---- checks ----

  #preflight(mp: ManagedPlugin): string | null {
    if (this.#cyclic.has(mp.id)) return `needs plugins that depend on it in turn (dependency cycle)`;
    try {
      mp.config = validateAgainst(mp.manifest.config.schema, mp.config, 'config');
    } catch (err) {
      return `config is not valid: ${(err as Error).message}; set it on the plugins page`;
    }
    const installed = new Map<string, string>();
    for (const other of this.#plugins.values()) if (other.enabled && other !== mp) installed.set(other.id, other.manifest.version);
    const deps = judgeDependencies(mp.manifest, installed);
    if (!deps.ok) return `needs: ${deps.message}`.replace(/^needs: needs /, 'needs ');
    for (const note of deps.notes) this.logs.write(mp.id, 'warn', note);
    for (const dep of mp.manifest.dependencies) {
      const other = this.#plugins.get(dep.id);
      if (other?.enabled && other.state !== 'running' && !dep.optional) return `needs plugin ${dep.id} running (it is ${other.state})`;
    }
    for (const req of mp.manifest.requires) {
      if (req.optional) continue;
      const providers = this.#infra.registry.list(req.kind as never).filter((e) => e.provider !== `plugin:${mp.id}`);
      if (!providers.length) return `needs capability ${req.kind}@${req.version}, which nothing provides yet`;
    }
    return null;
  }

  #checkContract(mp: ManagedPlugin, loaded: LoadedInfo): string | null {
    const entries = new Set(loaded.entries.map((e) => e.name));
    const need: Record<string, string> = { notifier: 'notify', detector: 'detect', 'snapshot-source': 'snapshot', 'robot-executor': 'run' };
    for (const cap of mp.manifest.provides) {
      const entry = need[cap.kind];
      if (entry && !entries.has(entry)) return `provides ${cap.kind}@${cap.version} but has no "${entry}" entry`;
      if (cap.kind === 'printer-driver' && !loaded.printerDrivers.length) return 'provides printer-driver@1 but exports no printerDrivers';
    }
    if (loaded.printerDrivers.length && !mp.manifest.provides.some((c) => c.kind === 'printer-driver')) {
      return 'exports printerDrivers but plugin.toml does not provide printer-driver@1';
    }
    for (const e of loaded.entries) {
      if (!e.input) continue;
      try {
        compileSchema(e.input);
      } catch (err) {
        return `entry ${e.name}: input is not a valid JSON Schema (${(err as Error).message})`;
      }
    }
    for (const d of loaded.printerDrivers) {
      if (!/^[a-z][a-z0-9-]{0,62}$/.test(d.name)) return `printer driver name "${d.name}" must be lowercase letters, digits and -`;
      try {
        compileSchema(d.connectionSchema);
      } catch (err) {
        return `printer driver ${d.name}: connectionSchema is not a valid JSON Schema (${(err as Error).message})`;
      }
    }
    return this.bridge.conflicts(mp, loaded.printerDrivers.map((d) => d.name));
  }

  // ---- events ----

  #deliver(e: Pick<DomainEvent, 'at'> & { type: string; data: unknown }): void {
    if (notDelivered.has(e.type)) return;
    for (const mp of this.#plugins.values()) {
      if (mp.state !== 'running' || !mp.process?.alive) continue;
      const subs = mp.loaded?.subscriptions ?? [];
      if (!subs.includes(e.type) && !(subs.includes('*') && !e.type.startsWith('plugin.') && !e.type.startsWith('custom:'))) continue;
      // A plugin that does not read its events does not get to pile them up in the server.
      if (mp.process.backlogBytes > 4 * 1024 * 1024) {
        mp.metrics.eventsDropped++;
        continue;
      }
      mp.process.notify('event', { type: e.type, data: e.data, at: e.at });
      mp.metrics.eventsDelivered++;
    }
  }

  #refreshCovers(): void {
    for (const mp of this.#plugins.values()) void this.bridge.refreshCovers(mp, () => this.#infra.clock.now());
  }

  // ---- config ----

  /** The config as the API shows it: secret fields left out, with whether each is set. */
  getConfig(id: string): { config: Record<string, unknown>; schema: Record<string, unknown>; secrets: Record<string, boolean> } {
    const mp = this.#target(id);
    const config = { ...mp.config };
    const secrets: Record<string, boolean> = {};
    for (const f of this.#configs.secretFields(mp.manifest)) {
      secrets[f] = config[f] !== undefined && config[f] !== null && config[f] !== '';
      delete config[f];
    }
    return { config, schema: mp.manifest.config.schema, secrets };
  }

  /**
   * Replaces the config (a secret left out keeps its stored value; null clears it), validates it
   * against the schema (400 naming the field) and applies it: the plugin's reload hook if it has
   * one, otherwise a restart.
   */
  async putConfig(id: string, body: unknown): Promise<ReturnType<PluginHost['getConfig']>> {
    const mp = this.#target(id);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError('config', 'must be an object');
    const next: Record<string, unknown> = { ...(body as Record<string, unknown>) };
    for (const f of this.#configs.secretFields(mp.manifest)) {
      if (!(f in next)) {
        if (mp.config[f] !== undefined) next[f] = mp.config[f];
      } else if (next[f] === null) delete next[f];
    }
    await this.#applyConfig(mp, next, 'api');
    return this.getConfig(id);
  }

  async #applyConfig(mp: ManagedPlugin, next: Record<string, unknown>, by: 'api' | 'plugin'): Promise<Record<string, unknown>> {
    let valid: Record<string, unknown>;
    try {
      valid = validateAgainst(mp.manifest.config.schema, next, 'config');
    } catch (err) {
      if (by === 'plugin') throw new DomainError('invalid', 'invalid_config', (err as Error).message);
      throw err;
    }
    mp.config = valid;
    await this.repo.updatePlugin(mp.id, { config_json: this.#configs.seal(mp.manifest, valid) });
    this.repo.record(mp.id, 'lifecycle', 'config_changed', { by });
    this.logs.write(mp.id, 'host', `config changed (by ${by})`);
    if (by === 'api') {
      if (mp.state === 'running' && mp.loaded?.hooks.includes('reload')) {
        await mp.process!.request('lifecycle', { hook: 'configChanged', config: valid }).catch((err) => this.logs.write(mp.id, 'error', `reload hook failed: ${(err as Error).message}`));
      } else if (mp.state === 'running' || mp.state === 'failed' || mp.state === 'crashed' || mp.state === 'starting') {
        await mp.stop();
        await mp.start('reload');
      }
    }
    return valid;
  }

  // ---- the API's operations ----

  list(): PluginView[] {
    const views = [...this.#plugins.values()].map((mp) => this.view(mp.id));
    for (const b of this.#broken) {
      const id = path.basename(b.dir);
      if (this.#plugins.has(id)) continue;
      views.push(brokenView(id, b));
    }
    return views.sort((a, b) => a.id.localeCompare(b.id));
  }

  view(id: string): PluginView {
    return pluginView(this.#target(id), this.#infra.clock.now());
  }

  /** A notifier plugin's `alerts` setting (categories, codes, `*`), or null when it has none. */
  subscriptionOf(id: string): readonly string[] | null {
    const v = this.#plugins.get(id)?.config.alerts;
    return Array.isArray(v) ? v.map(String) : null;
  }

  has(id: string): boolean {
    return this.#plugins.has(id);
  }

  /** The plugin's supervisor (tests, capabilities). */
  managed(id: string): ManagedPlugin {
    return this.#target(id);
  }

  async enable(id: string): Promise<PluginView> {
    const mp = this.#target(id);
    await this.repo.updatePlugin(id, { enabled: 1, disabled_reason: null });
    if (!mp.enabled || mp.state !== 'running') await mp.enable();
    return this.view(id);
  }

  async disable(id: string): Promise<PluginView> {
    const mp = this.#target(id);
    await this.repo.updatePlugin(id, { enabled: 0, disabled_reason: null });
    if (mp.enabled || mp.state !== 'disabled') await mp.disable(null);
    return this.view(id);
  }

  /** New code without a server restart: stop, read the manifest again, start (reason `reload`). */
  async reload(id: string): Promise<PluginView> {
    const mp = this.#target(id);
    await mp.stop();
    let manifest: PluginManifest;
    try {
      manifest = readManifest(mp.dir);
    } catch (err) {
      mp.state = 'failed';
      mp.reason = (err as Error).message;
      this.#infra.bus.emit('plugin.state', { pluginId: id, state: 'failed', reason: mp.reason });
      throw err;
    }
    if (manifest.id !== id) throw badRequest(`[plugin].id: the manifest now says "${manifest.id}"; a plugin's id cannot change`, 'invalid_manifest');
    mp.manifest = manifest;
    mp.crashGuard.reset();
    this.#cyclic = new Set(startOrder([...this.#plugins.values()].map((m) => m.manifest)).cyclic);
    this.repo.record(id, 'lifecycle', 'reload', { version: manifest.version });
    if (mp.enabled) await mp.start('reload');
    return this.view(id);
  }

  /** Installs from a folder on the server (copied into the plugins folder) and starts it. */
  async installFromFolder(dir: string): Promise<PluginView> {
    const manifest = inspectFolder(dir);
    if (this.#plugins.has(manifest.id)) throw conflict(`a plugin with id ${manifest.id} is already installed; remove it first`, 'plugin_exists');
    const to = copyInto(this.pluginsDir, dir, manifest);
    return this.#adopt(to, readManifest(to));
  }

  /** Installs from a `.tgz` file (npm pack output or a tar of the plugin folder). */
  async installFromTgz(file: string): Promise<PluginView> {
    const { root, cleanup } = await unpackTgz(file, this.#opts.maxInstallBytes ?? 200 * 1024 * 1024);
    try {
      const manifest = readManifest(root);
      if (this.#plugins.has(manifest.id)) throw conflict(`a plugin with id ${manifest.id} is already installed; remove it first`, 'plugin_exists');
      const to = copyInto(this.pluginsDir, root, manifest);
      return await this.#adopt(to, readManifest(to));
    } finally {
      cleanup();
    }
  }

  async #adopt(dir: string, manifest: PluginManifest): Promise<PluginView> {
    const existing = await this.repo.getPlugin(manifest.id);
    if (existing) await this.repo.deletePlugin(manifest.id);
    const row = await this.repo.insertPlugin({
      id: manifest.id,
      enabled: 1,
      config_json: JSON.stringify(this.#configs.defaults(manifest)),
      source: 'installed',
      dir,
      disabled_reason: null,
    });
    const mp = new ManagedPlugin(this.#services(), {
      manifest,
      dir,
      source: 'installed',
      enabled: true,
      config: this.#configs.unseal(manifest, row.config_json),
      disabledReason: null,
    });
    this.#plugins.set(mp.id, mp);
    this.#cyclic = new Set(startOrder([...this.#plugins.values()].map((m) => m.manifest)).cyclic);
    this.repo.record(mp.id, 'lifecycle', 'installed', { version: manifest.version });
    await mp.start();
    return this.view(mp.id);
  }

  /** Removes an installed plugin (stopped, its folder, records, runs and logs deleted). */
  async uninstall(id: string): Promise<void> {
    const mp = this.#target(id);
    if (mp.source !== 'installed' && mp.source !== 'folder') {
      throw conflict(`plugin ${id} comes with the server or an npm package (${mp.source}); disable it instead`, 'plugin_not_removable');
    }
    mp.enabled = false;
    await mp.stop();
    this.bridge.unregister(mp, 'removed');
    this.#plugins.delete(id);
    await this.repo.deletePlugin(id);
    this.logs.remove(id);
    fs.rmSync(mp.dir, { recursive: true, force: true });
    this.#infra.bus.emit('plugin.state', { pluginId: id, state: 'removed', reason: null });
  }

  /** POST /plugins/:id/entries/:entry: starts a run and answers at once with its id. */
  startRun(id: string, entry: string, args: unknown): { runId: string } {
    const mp = this.#target(id);
    if (mp.state === 'running' && !mp.entryInfo(entry)) throw notFound(`entry ${entry} of plugin ${id}`, 'no_such_entry');
    if (mp.state === 'running') {
      const info = mp.entryInfo(entry)!;
      if (info.input) {
        try {
          validateAgainst(info.input, args ?? {}, 'body');
        } catch (err) {
          throw badRequest((err as Error).message, 'invalid_input', { field: (err as ValidationError).field });
        }
      }
    } else if (mp.state !== 'starting' && mp.state !== 'crashed') {
      throw conflict(`plugin ${id} is ${mp.state}${mp.reason ? ` (${mp.reason})` : ''}`, 'plugin_not_running');
    }
    const { runId, result } = mp.call(entry, args ?? {}, { trigger: 'http', record: true });
    result.catch(() => {});
    return { runId: runId! };
  }

  async getRun(runId: string) {
    const r = await this.runs.get(runId);
    if (!r) throw notFound('run', 'run_not_found');
    return publicRun(r);
  }

  async cancelRun(runId: string) {
    const r = await this.runs.get(runId);
    if (!r) throw notFound('run', 'run_not_found');
    if (!this.runs.cancel(runId)) throw conflict(`the run is already ${r.status}`, 'run_finished');
    return this.getRun(runId);
  }

  async listRuns(pluginId: string, q: { status?: string; limit?: number }) {
    this.#target(pluginId);
    await this.runs.flush();
    const live = this.runs.liveRuns(pluginId);
    const stored = await this.repo.listRuns({ pluginId, status: q.status, limit: q.limit });
    const ids = new Set(live.map((r) => r.id));
    return [...live.filter((r) => !q.status || r.status === q.status), ...stored.filter((r) => !ids.has(r.id))].slice(0, q.limit ?? 50).map(publicRun);
  }

  async records(pluginId: string, topic: RecordTopic, q: { type?: string; since?: string; before?: number; limit?: number }) {
    if (!this.#plugins.has(pluginId) && !(await this.repo.getPlugin(pluginId))) throw notFound(`plugin ${pluginId}`, 'plugin_not_found');
    return this.repo.queryRecords({ pluginId, topic, ...q });
  }

  async #busRecent(callerId: string, q: Record<string, unknown>): Promise<unknown[]> {
    const topic = q.topic;
    const pluginId = typeof q.pluginId === 'string' ? q.pluginId : callerId;
    const limit = typeof q.limit === 'number' ? q.limit : 50;
    const since = typeof q.since === 'string' ? q.since : undefined;
    const type = typeof q.type === 'string' ? q.type : undefined;
    if (topic === 'runs') {
      await this.runs.flush();
      const runs = await this.repo.listRuns({ pluginId, status: type, since, limit });
      return runs.map((r) => ({ id: r.id, pluginId: r.pluginId, type: r.status, at: r.createdAt, data: publicRun(r) }));
    }
    if (topic !== 'messages' && topic !== 'events' && topic !== 'lifecycle') throw badRequest('topic: must be messages, events, lifecycle or runs');
    const rows = await this.repo.queryRecords({ pluginId, topic, type, since, limit });
    return rows.map((r) => ({ id: r.id, pluginId: r.pluginId, type: r.type, at: r.at, data: r.data }));
  }

  async #snapshot(printerId: string): Promise<{ base64: string } | null> {
    const p = this.#fleet.get(printerId);
    if (!p) throw notFound('printer', 'printer_not_found');
    const source = this.#infra.registry.list('snapshot-source').find((s) => s.impl.covers(printerId));
    const jpeg = source ? ((await source.impl.snapshot(printerId))?.jpeg ?? null) : await p.driver.snapshot();
    return jpeg ? { base64: jpeg.toString('base64') } : null;
  }

  /** Calls an entry the way another part of the server would (tests, capabilities, the bench). */
  call(pluginId: string, entry: string, args: unknown, opts: Partial<CallOptions> = {}): Promise<unknown> {
    return this.#target(pluginId).call(entry, args, { trigger: 'capability', ...opts }).result;
  }
}
