/**
 * Puts a plugin's capabilities into the capability registry, next to the built-in ones: the
 * server finds them by kind and name and never knows a process sits in between. Each capability
 * maps onto entries (docs/decisions.md, Plugins):
 * - `notifier@1`        → entry `notify` {alert, printerName, snapshotJpegBase64}
 * - `detector@1`        → entry `detect` {jpegBase64, printerId} → {detections, model}
 * - `snapshot-source@1` → entries `snapshot` {printerId} → {jpegBase64, at} | null, `covers` {printerIds} → ids
 * - `robot-executor@1`  → entry `run` {command, args}
 * - `queue-policy@1`    → any entry, through `call(entry, args)`
 * - `printer-driver@1`  → the `printerDrivers` the plugin exports (driver-proxy.ts)
 * Registrations stay while the plugin is enabled (a crash only makes calls wait or fail) and go
 * when it is disabled or removed.
 */
import type { DetectorCapability, NotifierCapability, SnapshotSourceCapability, CapabilityRegistry, CapabilityKind, Detection } from '../../registry/capabilities.ts';
import type { Logger } from '../../util/logger.ts';
import type { CallOptions, ManagedPlugin } from '../managed-plugin.ts';
import { type DriverLink, PluginDriverCapability, type PluginDriverProxy } from './driver-proxy.ts';

export interface BridgeDeps {
  registry: CapabilityRegistry;
  logger: Logger;
  /** Calls an entry of a plugin through the host (deadline, metrics). */
  call(mp: ManagedPlugin, entry: string, args: unknown, opts: CallOptions): Promise<unknown>;
  /** Printers that use driver `name` pick up its (new) capability. */
  driverRegistered(name: string): void;
  printerIds(): string[];
}

interface Registration {
  kind: CapabilityKind;
  name: string;
}

const capabilityCall = (timeoutMs: number, now: number): CallOptions => ({ trigger: 'capability', deadline: now + timeoutMs, trusted: false });

export class CapabilityBridge {
  #regs = new Map<string, Registration[]>();
  #drivers = new Map<string, Map<string, PluginDriverProxy>>();
  #covers = new Map<string, Set<string>>();

  constructor(private readonly d: BridgeDeps) {}

  /** Capability kinds and driver names a plugin would register, for collision checks before it starts. */
  conflicts(mp: ManagedPlugin, driverNames: string[]): string | null {
    const own = new Set((this.#regs.get(mp.id) ?? []).map((r) => `${r.kind}:${r.name}`));
    for (const name of driverNames) {
      const existing = this.d.registry.list('printer-driver').find((e) => e.name === name);
      if (existing && !own.has(`printer-driver:${name}`)) return `printer driver "${name}" is already provided by ${existing.provider}`;
    }
    return null;
  }

  #register(mp: ManagedPlugin, kind: CapabilityKind, name: string, impl: any): void {
    const list = this.#regs.get(mp.id) ?? [];
    if (list.some((r) => r.kind === kind && r.name === name)) return;
    if (this.d.registry.get(kind, name)) this.d.registry.unregister(kind, name);
    this.d.registry.register(kind, name, impl, `plugin:${mp.id}`);
    list.push({ kind, name });
    this.#regs.set(mp.id, list);
  }

  /** The plugin came online (first start or restart): register what is new, re-attach drivers. */
  online(mp: ManagedPlugin, now: () => number): void {
    const timeout = () => mp.manifest.limits.callTimeoutSeconds * 1000;
    const call = (entry: string, args: unknown, ms = timeout()) => this.d.call(mp, entry, args, capabilityCall(ms, now()));
    for (const cap of mp.manifest.provides) {
      if (cap.kind === 'notifier') {
        const impl: NotifierCapability = {
          notify: async (m) =>
            void (await call('notify', {
              alert: m.alert,
              printerName: m.printerName,
              snapshotJpegBase64: m.snapshotJpeg ? m.snapshotJpeg.toString('base64') : null,
            })),
        };
        this.#register(mp, 'notifier', mp.id, impl);
      } else if (cap.kind === 'detector') {
        const impl: DetectorCapability = {
          detect: async (frame, opts) => {
            if (opts?.signal?.aborted) throw new Error('aborted');
            const r = (await call('detect', { jpegBase64: frame.jpeg.toString('base64'), printerId: frame.printerId ?? null })) as {
              detections?: Detection[];
              model?: string;
            };
            return { detections: Array.isArray(r?.detections) ? r.detections : [], model: String(r?.model ?? mp.id) };
          },
        };
        this.#register(mp, 'detector', mp.id, impl);
      } else if (cap.kind === 'snapshot-source') {
        const impl: SnapshotSourceCapability = {
          covers: (printerId) => this.#covers.get(mp.id)?.has(printerId) ?? false,
          snapshot: async (printerId) => {
            const r = (await call('snapshot', { printerId })) as { jpegBase64?: string; at?: string } | null;
            return r?.jpegBase64 ? { jpeg: Buffer.from(r.jpegBase64, 'base64'), at: String(r.at ?? new Date(now()).toISOString()) } : null;
          },
        };
        this.#register(mp, 'snapshot-source', mp.id, impl);
        void this.refreshCovers(mp, now);
      } else if (cap.kind === 'robot-executor') {
        this.#register(mp, 'robot-executor', mp.id, { run: (command: string, args: unknown) => call('run', { command, args }) });
      } else if (cap.kind === 'queue-policy') {
        this.#register(mp, 'queue-policy', mp.id, { call: (entry: string, args: unknown) => call(entry, args) });
      }
    }
    const names = new Set((mp.loaded?.printerDrivers ?? []).map((d) => d.name));
    // Driver kinds the new code no longer has go away.
    for (const r of [...(this.#regs.get(mp.id) ?? [])]) {
      if (r.kind === 'printer-driver' && !names.has(r.name)) this.#unregisterOne(mp.id, r);
    }
    for (const info of mp.loaded?.printerDrivers ?? []) {
      const had = this.#regs.get(mp.id)?.some((r) => r.kind === 'printer-driver' && r.name === info.name);
      const current = this.d.registry.get('printer-driver', info.name) as PluginDriverCapability | undefined;
      if (!had || JSON.stringify(current?.info) !== JSON.stringify(info)) {
        this.#regs.set(mp.id, (this.#regs.get(mp.id) ?? []).filter((r) => !(r.kind === 'printer-driver' && r.name === info.name)));
        this.#register(mp, 'printer-driver', info.name, new PluginDriverCapability(this.#link(mp), info));
        this.d.driverRegistered(info.name);
      }
    }
    for (const proxy of this.#drivers.get(mp.id)?.values() ?? []) void proxy.attach();
  }

  #link(mp: ManagedPlugin): DriverLink {
    return {
      pluginId: mp.id,
      online: () => mp.state === 'running' && !!mp.process?.alive,
      callTimeoutMs: () => mp.manifest.limits.callTimeoutSeconds * 1000,
      request: (method, params, timeoutMs) => {
        const proc = mp.process;
        if (!proc?.alive) return Promise.reject(Object.assign(new Error(`plugin ${mp.id} is not running`), { code: 'plugin_unavailable' }));
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(Object.assign(new Error(`plugin ${mp.id} did not answer ${method} within ${timeoutMs / 1000} s`), { code: 'timeout' })), timeoutMs);
          proc.request(method, params).then(
            (v) => {
              clearTimeout(t);
              resolve(v);
            },
            (e) => {
              clearTimeout(t);
              reject(e);
            },
          );
        });
      },
      register: (handle, proxy) => {
        let m = this.#drivers.get(mp.id);
        if (!m) this.#drivers.set(mp.id, (m = new Map()));
        m.set(handle, proxy);
      },
      unregister: (handle) => this.#drivers.get(mp.id)?.delete(handle),
    };
  }

  driver(pluginId: string, handle: string): PluginDriverProxy | undefined {
    return this.#drivers.get(pluginId)?.get(handle);
  }

  /** Asks a snapshot source which printers it covers (covers() itself must answer synchronously). */
  async refreshCovers(mp: ManagedPlugin, now: () => number): Promise<void> {
    if (!mp.manifest.provides.some((c) => c.kind === 'snapshot-source') || mp.state !== 'running') return;
    if (!mp.entryInfo('covers')) {
      this.#covers.set(mp.id, new Set(this.d.printerIds()));
      return;
    }
    try {
      const ids = (await this.d.call(mp, 'covers', { printerIds: this.d.printerIds() }, capabilityCall(10_000, now()))) as unknown;
      this.#covers.set(mp.id, new Set(Array.isArray(ids) ? ids.map(String) : []));
    } catch (err) {
      this.d.logger.warn({ plugin: mp.id, err: (err as Error).message }, 'snapshot source covers() failed');
    }
  }

  /** The plugin's process ended: its printers read offline until it is back. */
  offline(mp: ManagedPlugin, why: string): void {
    for (const proxy of this.#drivers.get(mp.id)?.values() ?? []) proxy.detach(why);
  }

  #unregisterOne(pluginId: string, r: Registration): void {
    if (this.d.registry.list(r.kind).find((e) => e.name === r.name)?.provider === `plugin:${pluginId}`) this.d.registry.unregister(r.kind, r.name);
    this.#regs.set(pluginId, (this.#regs.get(pluginId) ?? []).filter((x) => !(x.kind === r.kind && x.name === r.name)));
  }

  /** Disabled or removed: its capabilities leave the registry. */
  unregister(mp: ManagedPlugin, why: string): void {
    for (const r of [...(this.#regs.get(mp.id) ?? [])]) this.#unregisterOne(mp.id, r);
    this.#covers.delete(mp.id);
    this.offline(mp, why);
  }
}
