import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Infra } from '../app-context.ts';
import { ValidationError, conflict, notFound } from '../errors.ts';
import type { PrintersTable } from '../storage/schema.ts';
import { SecretBox } from '../storage/secrets.ts';
import { checkConnectionShape, connectionSchemas } from './connection-schemas.ts';
import { type ConnectionTestResult, testConnection } from './connection-test.ts';
import { DisabledDriver } from './disabled-driver.ts';
import { DriverError, type PrinterDriver, type PrinterDriverCapability } from './driver.ts';
import { type ForwardedCommand, type RemoteCommand, RemoteDriver } from './remote-driver.ts';
import type { FleetPrinter, FleetView } from './fleet-types.ts';
import { type PrinterSettings, type PrinterState, type PrinterSummary, defaultPrinterSettings, initialPrinterState } from './model.ts';

export interface NewPrinter {
  name: string;
  driver: string;
  model?: string | null;
  connection: unknown;
  settings?: Partial<PrinterSettings>;
  enabled?: boolean;
}

export interface PrinterPatch {
  name?: string;
  /** The model the user types (the printer's own report wins for matching; see state.reported). */
  model?: string | null;
  enabled?: boolean;
  connection?: unknown;
  settings?: Partial<PrinterSettings>;
}

interface Managed extends FleetPrinter {
  connection: Record<string, unknown>;
  capability: PrinterDriverCapability | null;
  /**
   * Set when the AI monitor paused this print. The printer itself only knows a pause command came
   * (Bambu reports "Paused by user"), so the fleet names the real origin until the print goes on or ends.
   */
  pausedBy?: { by: 'ai'; seenPaused: boolean };
}

/**
 * Owns every printer's driver: creates them from the registry, starts and stops them, keeps the
 * latest state, and turns driver state changes into `printer.state` events.
 */
export class Fleet implements FleetView {
  #printers = new Map<string, Managed>();
  #infra: Infra;
  #stopping = false;
  /** Scale-out: whether this process owns a printer (cluster/); null: it owns every printer. */
  #owns: ((printerId: string) => boolean) | null = null;
  /** Scale-out: runs a command on the process that owns the printer (cluster/ RPC). */
  #forward: RemoteCommand | null = null;

  constructor(infra: Infra) {
    this.#infra = infra;
  }

  /**
   * Scale-out: from now on only printers `owns` says yes to get a driver here (see acquire/release);
   * the others are listed with the state their owner publishes, and their commands go to the owner
   * through `forward`. Call before start().
   */
  useOwnership(owns: (printerId: string) => boolean, forward: RemoteCommand): void {
    this.#owns = owns;
    this.#forward = forward;
    const bus = this.#infra.bus;
    bus.on('printer.state', this, ({ printerId, state }) => this.#onRemoteState(printerId, state), 'remote');
    bus.on('printer.added', this, ({ printer }) => void this.#syncRow(printer.id), 'remote');
    bus.on('printer.updated', this, ({ printer }) => void this.#syncRow(printer.id), 'remote');
    bus.on('printer.removed', this, ({ printerId }) => void this.#dropRemoved(printerId), 'remote');
  }

  isLocal(printerId: string): boolean {
    return this.#owns ? this.#owns(printerId) : true;
  }

  /** Scale-out: this process took the printer's lease; its driver starts here (from the stored row). */
  async acquire(printerId: string, markOwned: () => void): Promise<void> {
    const row = await this.#infra.storage.db.selectFrom('printers').selectAll().where('id', '=', printerId).executeTakeFirst();
    if (!row || this.#stopping) return;
    const old = this.#printers.get(printerId);
    if (old && !(old.driver instanceof RemoteDriver) && !(old.driver instanceof DisabledDriver)) return;
    // No await from here until the new driver's state is in place: nothing may decide on the
    // previous owner's last report as if it were this driver's.
    markOwned();
    const next = this.#fromRow(row);
    this.#printers.set(printerId, next);
    await this.#startDriver(next);
  }

  /** Scale-out: the lease went to another process; stop the driver, keep showing the last state. */
  async release(printerId: string): Promise<void> {
    const p = this.#printers.get(printerId);
    if (!p) return;
    const driver = p.driver;
    p.driver = this.#remoteDriver(printerId);
    await driver.stop().catch(() => {});
  }

  /** Scale-out: re-emits the state of every printer driven here (a process joined and asks). */
  republishStates(): void {
    for (const p of this.#printers.values()) {
      if (this.isLocal(p.summary.id) && !(p.driver instanceof RemoteDriver)) this.#infra.bus.emit('printer.state', { printerId: p.summary.id, state: p.state });
    }
  }

  /** Scale-out: runs a forwarded command on a printer driven here. */
  async runForwarded(printerId: string, command: ForwardedCommand): Promise<unknown> {
    const p = this.#printers.get(printerId);
    if (!p || !this.isLocal(printerId)) throw new DriverError('printer_elsewhere', 'the printer is not run by this server process');
    switch (command.method) {
      case 'pause':
        return p.driver.pause();
      case 'resume':
        return p.driver.resume();
      case 'cancel':
        return p.driver.cancel();
      case 'sendGcode':
        return p.driver.sendGcode(command.args[0]);
      case 'clearError':
        if (!p.driver.clearError) throw new DriverError('not_supported', 'this printer has no error to clear');
        return p.driver.clearError();
      case 'trustCertificate':
        if (!p.driver.trustCertificate) throw conflict('this printer has no TLS certificate to confirm', 'no_certificate');
        return p.driver.trustCertificate(command.args[0]);
      case 'snapshot': {
        const jpeg = await p.driver.snapshot();
        return jpeg ? jpeg.toString('base64') : null;
      }
    }
  }

  #remoteDriver(printerId: string): RemoteDriver {
    return new RemoteDriver(printerId, () => this.#printers.get(printerId)?.state ?? initialPrinterState(), this.#forward);
  }

  /**
   * Scale-out: a printer another process added a moment ago may not have reached this one through
   * the event channel yet; a change to it (behind a load balancer) must not answer 404.
   */
  async #seen(printerId: string): Promise<void> {
    if (this.#owns && !this.#printers.has(printerId)) await this.#syncRow(printerId);
  }

  #onRemoteState(printerId: string, state: PrinterState): void {
    const p = this.#printers.get(printerId);
    if (!p || this.isLocal(printerId)) return;
    p.state = state;
  }

  /** A printer added or changed through another process: take the stored row. */
  async #syncRow(printerId: string): Promise<void> {
    const row = await this.#infra.storage.db.selectFrom('printers').selectAll().where('id', '=', printerId).executeTakeFirst();
    if (!row || this.#stopping) return;
    const p = this.#printers.get(printerId);
    const next = this.#fromRow(row);
    if (!p) {
      next.driver = this.#remoteDriver(printerId);
      this.#printers.set(printerId, next);
      return;
    }
    if (!this.isLocal(printerId)) {
      p.summary = next.summary;
      p.connection = next.connection;
      p.capability = next.capability;
      return;
    }
    // Driven here: a new connection or enabled flag restarts the driver, settings apply live.
    const reconnect = JSON.stringify(next.connection) !== JSON.stringify(p.connection) || next.summary.enabled !== p.summary.enabled;
    if (!reconnect) {
      p.summary = next.summary;
      return;
    }
    await p.driver.stop().catch(() => {});
    this.#printers.set(printerId, next);
    await this.#startDriver(next);
    if (!next.summary.enabled) this.#infra.bus.emit('printer.state', { printerId, state: next.state });
  }

  async #dropRemoved(printerId: string): Promise<void> {
    const p = this.#printers.get(printerId);
    if (!p) return;
    this.#printers.delete(printerId);
    await p.driver.stop().catch(() => {});
  }

  list(): FleetPrinter[] {
    return [...this.#printers.values()];
  }

  get(printerId: string): FleetPrinter | undefined {
    return this.#printers.get(printerId);
  }

  /** Connection without its secret fields (those become `<field>Set: true`). */
  publicConnection(printerId: string): Record<string, unknown> {
    const p = this.#printers.get(printerId);
    if (!p) return {};
    const out: Record<string, unknown> = {};
    const secret = new Set(p.capability?.secretFields ?? []);
    for (const [k, v] of Object.entries(p.connection)) {
      if (secret.has(k)) out[`${k}Set`] = v !== undefined && v !== null && v !== '';
      else out[k] = v;
    }
    return out;
  }

  async start(): Promise<void> {
    const rows = await this.#infra.storage.db.selectFrom('printers').selectAll().orderBy('position').execute();
    for (const row of rows) {
      // Printers added before start() (the demo fleet) are already running.
      if (this.#printers.has(row.id)) continue;
      try {
        const managed = this.#fromRow(row);
        if (this.#owns) managed.driver = this.#remoteDriver(row.id);
        this.#printers.set(row.id, managed);
      } catch (err) {
        this.#infra.logger.error({ err, printerId: row.id }, 'cannot load printer; it stays offline');
      }
    }
    await Promise.all(
      [...this.#printers.values()].filter((p) => p.driver instanceof DisabledDriver).map((p) => this.#startDriver(p)),
    );
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#infra.bus.removeListeners(this);
    await Promise.allSettled([...this.#printers.values()].map((p) => p.driver.stop()));
    const caps = this.#infra.registry.list('printer-driver');
    await Promise.allSettled(caps.map((c) => c.impl.shutdown?.()));
  }

  #capability(driver: string): PrinterDriverCapability {
    const cap = this.#infra.registry.get('printer-driver', driver);
    if (!cap) {
      const known = this.#infra.registry.list('printer-driver').map((c) => c.name);
      throw new ValidationError('driver', `unknown driver "${driver}"; one of: ${known.join(', ')}`);
    }
    return cap;
  }

  #seal(cap: PrinterDriverCapability, connection: Record<string, unknown>): string {
    const sealed: Record<string, unknown> = { ...connection };
    for (const f of cap.secretFields) {
      const v = sealed[f];
      if (typeof v === 'string' && v !== '') sealed[f] = this.#infra.secrets.encrypt(v);
    }
    return JSON.stringify(sealed);
  }

  #unseal(json: string): Record<string, unknown> {
    const raw = JSON.parse(json) as Record<string, unknown>;
    for (const [k, v] of Object.entries(raw)) if (SecretBox.isSealed(v)) raw[k] = this.#infra.secrets.decrypt(v);
    return raw;
  }

  #fromRow(row: PrintersTable): Managed {
    const settings = { ...defaultPrinterSettings, ...(JSON.parse(row.settings_json) as Partial<PrinterSettings>) };
    const summary: PrinterSummary = {
      id: row.id,
      name: row.name,
      driver: row.driver,
      model: row.model,
      enabled: row.enabled === 1,
      settings,
    };
    const capability = this.#infra.registry.get('printer-driver', row.driver) ?? null;
    const connection = this.#unseal(row.connection_json);
    const fileKinds = capability?.fileKindsOf?.(connection) ?? capability?.fileKinds;
    if (fileKinds) summary.fileKinds = fileKinds;
    const disabled = new DisabledDriver();
    return { summary, driver: disabled, state: disabled.getState(), connection, capability };
  }

  async #startDriver(p: Managed): Promise<void> {
    if (!this.isLocal(p.summary.id)) {
      p.driver = this.#remoteDriver(p.summary.id);
      return;
    }
    if (!p.summary.enabled || !p.capability || this.#stopping) return;
    const dataDir = path.join(this.#infra.config.dataDir, 'printers', p.summary.id);
    fs.mkdirSync(dataDir, { recursive: true });
    let driver: PrinterDriver;
    try {
      driver = p.capability.create({
        printerId: p.summary.id,
        printerName: p.summary.name,
        model: p.summary.model,
        connection: p.connection,
        settings: p.summary.settings,
        staleAfterSeconds: this.#infra.config.staleAfterSeconds,
        clock: this.#infra.clock,
        logger: this.#infra.logger.child({ printer: p.summary.name }),
        bus: this.#infra.bus,
        dataDir,
        onState: (state) => this.#onState(p, driver, state),
      });
    } catch (err) {
      this.#infra.logger.error({ err, printer: p.summary.name }, 'driver could not be created');
      return;
    }
    p.driver = driver;
    p.state = driver.getState();
    try {
      await driver.start();
    } catch (err) {
      this.#infra.logger.error({ err, printer: p.summary.name }, 'driver failed to start');
    }
  }

  #onState(p: Managed, driver: PrinterDriver, state: PrinterState): void {
    // A late report from a driver that was already replaced must not overwrite the new one's state.
    if (p.driver !== driver || this.#printers.get(p.summary.id) !== p) return;
    p.state = applyPauseOrigin(p, state);
    this.#infra.bus.emit('printer.state', { printerId: p.summary.id, state: p.state });
  }

  /** The AI monitor paused this printer's print: its state says so instead of "Paused by user". */
  markPausedBy(printerId: string, by: 'ai'): void {
    const p = this.#printers.get(printerId);
    if (!p) return;
    p.pausedBy = { by, seenPaused: false };
    if (p.state.status === 'paused') {
      p.state = applyPauseOrigin(p, p.state);
      this.#infra.bus.emit('printer.state', { printerId, state: p.state });
    }
  }

  /**
   * A driver kind was registered or replaced after the fleet started (a plugin's printer driver came
   * online): printers of that kind start with it. Their old driver (none, or the replaced one) stops.
   */
  async refreshDriver(driver: string): Promise<void> {
    const cap = this.#infra.registry.get('printer-driver', driver);
    if (!cap || this.#stopping) return;
    for (const p of [...this.#printers.values()]) {
      if (p.summary.driver !== driver || p.capability === cap) continue;
      const row = await this.#infra.storage.db.selectFrom('printers').selectAll().where('id', '=', p.summary.id).executeTakeFirst();
      if (!row || this.#printers.get(p.summary.id) !== p) continue;
      await p.driver.stop().catch(() => {});
      const next = this.#fromRow(row);
      this.#printers.set(row.id, next);
      await this.#startDriver(next);
    }
  }

  /** Names are unique, ignoring case and surrounding spaces: 409 printer_name_taken. */
  #checkName(name: string, self?: string): void {
    const key = name.trim().toLowerCase();
    const other = [...this.#printers.values()].find((p) => p.summary.id !== self && p.summary.name.trim().toLowerCase() === key);
    if (other) throw conflict(`a printer named "${other.summary.name}" already exists; pick another name`, 'printer_name_taken', { name: other.summary.name });
  }

  async add(input: NewPrinter): Promise<FleetPrinter> {
    if (!input.name?.trim()) throw new ValidationError('name', 'must not be empty');
    this.#checkName(input.name);
    const cap = this.#capability(input.driver);
    checkConnectionShape(cap.connectionSchema ?? connectionSchemas[input.driver], input.connection ?? {});
    const connection = cap.validateConnection(input.connection ?? {});
    const settings = validateSettings({ ...defaultPrinterSettings, ...(input.settings ?? {}) });
    const now = new Date(this.#infra.clock.now()).toISOString();
    const max = await this.#infra.storage.db
      .selectFrom('printers')
      .select((eb) => eb.fn.max('position').as('m'))
      .executeTakeFirst();
    const row: PrintersTable = {
      id: crypto.randomUUID(),
      name: input.name.trim(),
      driver: input.driver,
      model: input.model ?? (typeof connection.model === 'string' ? connection.model : null),
      enabled: input.enabled === false ? 0 : 1,
      connection_json: this.#seal(cap, connection),
      settings_json: JSON.stringify(settings),
      position: Number(max?.m ?? 0) + 1,
      created_at: now,
    };
    await this.#infra.storage.db.insertInto('printers').values(row).execute();
    const managed = this.#fromRow(row);
    this.#printers.set(row.id, managed);
    this.#infra.bus.emit('printer.added', { printer: managed.summary });
    await this.#startDriver(managed);
    return managed;
  }

  async update(printerId: string, patch: PrinterPatch): Promise<FleetPrinter> {
    await this.#seen(printerId);
    const p = this.#printers.get(printerId);
    if (!p) throw notFound('printer');
    const cap = this.#capability(p.summary.driver);
    if (patch.name !== undefined) {
      if (!patch.name.trim()) throw new ValidationError('name', 'must not be empty');
      this.#checkName(patch.name, printerId);
    }
    const row = await this.#infra.storage.db.selectFrom('printers').selectAll().where('id', '=', printerId).executeTakeFirstOrThrow();
    let reconnect = false;
    if (patch.connection !== undefined) {
      const next = this.mergeConnection(printerId, patch.connection);
      row.connection_json = this.#seal(cap, next);
      reconnect = true;
    }
    if (patch.settings !== undefined) {
      row.settings_json = JSON.stringify(validateSettings({ ...p.summary.settings, ...patch.settings }));
    }
    if (patch.name !== undefined) row.name = patch.name.trim();
    if (patch.model !== undefined && (patch.model || null) !== row.model) {
      row.model = patch.model || null;
      // The typed model is a driver input (a fallback until the printer says what it is): it takes
      // effect on reconnect, which never happens under a running print (a USB-streamed job would die).
      if (!['printing', 'paused', 'preparing'].includes(p.state.status)) reconnect = true;
    }
    if (patch.enabled !== undefined && (patch.enabled ? 1 : 0) !== row.enabled) {
      row.enabled = patch.enabled ? 1 : 0;
      reconnect = true;
    }
    await this.#infra.storage.db
      .updateTable('printers')
      .set({ name: row.name, model: row.model, enabled: row.enabled, connection_json: row.connection_json, settings_json: row.settings_json })
      .where('id', '=', printerId)
      .execute();
    const next = this.#fromRow(row);
    if (reconnect) {
      await p.driver.stop();
      this.#printers.set(printerId, next);
      await this.#startDriver(next);
      if (!next.summary.enabled) this.#infra.bus.emit('printer.state', { printerId, state: next.state });
    } else {
      // Settings and name apply live; the driver keeps its connection.
      p.summary = next.summary;
    }
    const current = this.#printers.get(printerId)!;
    this.#infra.bus.emit('printer.updated', { printer: current.summary });
    return current;
  }

  /**
   * The printer's stored connection with `given` laid over it, checked like an add (schema, then the
   * driver's validateConnection). Secrets left out keep their stored value, so the UI never needs to
   * know them, unless the patch points the printer at another device: then they must be given again.
   */
  mergeConnection(printerId: string, given: unknown): Record<string, unknown> {
    const p = this.#printers.get(printerId);
    if (!p) throw notFound('printer');
    const cap = this.#capability(p.summary.driver);
    checkConnectionShape(cap.connectionSchema ?? connectionSchemas[p.summary.driver], given);
    const patch = given as Record<string, unknown>;
    const next = cap.validateConnection({ ...p.connection, ...patch });
    const moved = (cap.deviceFields ?? []).filter((f) => JSON.stringify(next[f] ?? null) !== JSON.stringify(p.connection[f] ?? null));
    if (moved.length) {
      for (const secret of cap.secretFields) {
        const stored = p.connection[secret];
        if (stored !== undefined && stored !== null && stored !== '' && !(secret in patch)) {
          throw new ValidationError(
            `connection.${secret}`,
            `give it again: connection.${moved[0]} changed, and a stored ${secret} is never sent to another device`,
          );
        }
      }
    }
    return next;
  }

  /** The stored (decrypted) connection and driver kind of a printer, for a connection test. */
  connectionOf(printerId: string): { driver: string; model: string | null; connection: Record<string, unknown> } {
    const p = this.#printers.get(printerId);
    if (!p) throw notFound('printer');
    return { driver: p.summary.driver, model: p.summary.model, connection: { ...p.connection } };
  }

  /** Validates an add body's connection without storing anything (test-connection before adding). */
  checkNewConnection(driver: string, connection: unknown): Record<string, unknown> {
    const cap = this.#capability(driver);
    checkConnectionShape(cap.connectionSchema ?? connectionSchemas[driver], connection ?? {});
    return cap.validateConnection(connection ?? {});
  }

  /** POST /printers/test-connection: the add body, validated like an add, tried with a deadline. */
  async testNewConnection(input: { driver: string; model?: string | null; connection: unknown; timeoutSeconds?: number }): Promise<ConnectionTestResult> {
    const connection = this.checkNewConnection(input.driver, input.connection);
    const cap = this.#capability(input.driver);
    const model = input.model ?? (typeof connection.model === 'string' ? connection.model : null);
    return testConnection(this.#infra, cap, { driver: input.driver, model, connection, timeoutSeconds: input.timeoutSeconds ?? 8 });
  }

  /** POST /printers/:id/test-connection: the stored connection with an optional override laid over it. */
  async testStoredConnection(printerId: string, input: { connection?: unknown; model?: string | null; timeoutSeconds?: number }): Promise<ConnectionTestResult> {
    const p = this.#printers.get(printerId);
    if (!p) throw notFound('printer');
    const connection = input.connection === undefined ? { ...p.connection } : this.mergeConnection(printerId, input.connection);
    const cap = this.#capability(p.summary.driver);
    return testConnection(this.#infra, cap, {
      driver: p.summary.driver,
      model: input.model === undefined ? p.summary.model : input.model,
      connection,
      timeoutSeconds: input.timeoutSeconds ?? 8,
      dataDirToCopy: path.join(this.#infra.config.dataDir, 'printers', printerId),
    });
  }

  /** An admin trusts the certificate a printer presents now (see PrinterDriver.trustCertificate). */
  async trustCertificate(printerId: string, fingerprint256: string): Promise<void> {
    const p = this.#printers.get(printerId);
    if (!p) throw notFound('printer');
    if (!p.driver.trustCertificate) throw conflict('this printer has no TLS certificate to confirm', 'no_certificate');
    await p.driver.trustCertificate(fingerprint256);
  }

  async remove(printerId: string, isBusyWithQueueJob: (id: string) => boolean): Promise<void> {
    await this.#seen(printerId);
    const p = this.#printers.get(printerId);
    if (!p) throw notFound('printer');
    if (isBusyWithQueueJob(printerId)) throw conflict('the printer is printing a queue job; cancel it first', 'printer_busy');
    await this.#infra.storage.db.deleteFrom('printers').where('id', '=', printerId).execute();
    this.#printers.delete(printerId);
    await p.driver.stop();
    this.#infra.bus.emit('printer.removed', { printerId });
  }
}

function validateSettings(s: PrinterSettings): PrinterSettings {
  if (!Number.isInteger(s.swapCooldownSeconds) || s.swapCooldownSeconds < 0 || s.swapCooldownSeconds > 86400) {
    throw new ValidationError('settings.swapCooldownSeconds', 'must be a whole number of seconds from 0 to 86400');
  }
  if (typeof s.requirePlateClear !== 'boolean') throw new ValidationError('settings.requirePlateClear', 'must be true or false');
  if (s.nozzleDiameter !== null && (typeof s.nozzleDiameter !== 'number' || s.nozzleDiameter <= 0 || s.nozzleDiameter > 2)) {
    throw new ValidationError('settings.nozzleDiameter', 'must be a diameter in mm (e.g. 0.4) or null');
  }
  return s;
}

/**
 * Names who paused a print: while the AI's pause holds, the stage reads "Paused by AI monitoring".
 * The mark is dropped once the print goes on (a resume) or ends; before the pause lands the printer
 * may still report printing, which does not count as a resume.
 */
function applyPauseOrigin(p: Managed, state: PrinterState): PrinterState {
  const mark = p.pausedBy;
  if (!mark) return state;
  if (state.status === 'paused') {
    mark.seenPaused = true;
    return { ...state, stage: 'Paused by AI monitoring', stageCode: 'paused_by_ai' };
  }
  const active = state.status === 'printing' || state.status === 'preparing';
  if (!active || mark.seenPaused) p.pausedBy = undefined;
  return state;
}
