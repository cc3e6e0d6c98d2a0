/**
 * `printer-driver@1` through a plugin: the fleet and the queue get a PrinterDriverCapability like
 * any built-in one; every command goes over RPC to the driver instance inside the plugin process,
 * and the plugin's state reports come back through `driver.state`. While the plugin is down the
 * printer reads `offline` (never idle), and when it comes back the instance is created again.
 */
import type { PrinterDriverInfo } from '@rwc/plugin-sdk/protocol';
import { type DriverContext, DriverError, type PrinterDriver, type PrinterDriverCapability, type StartJobRequest } from '../../printers/driver.ts';
import { type PrinterState, initialPrinterState } from '../../printers/model.ts';
import type { TimerHandle } from '../../util/clock.ts';
import { validateAgainst } from '../json-schema.ts';
import { checkPluginState } from '../state-check.ts';

/** What a driver proxy needs from the plugin's supervisor. */
export interface DriverLink {
  pluginId: string;
  online(): boolean;
  request(method: string, params: unknown, timeoutMs: number): Promise<unknown>;
  callTimeoutMs(): number;
  register(handle: string, proxy: PluginDriverProxy): void;
  unregister(handle: string): void;
}

/** Uploads go through startJob, so it gets far longer than an ordinary command. */
const START_JOB_TIMEOUT_MS = 15 * 60_000;
let nextHandle = 1;

export class PluginDriverCapability implements PrinterDriverCapability {
  readonly secretFields: string[];
  readonly fileKinds?: readonly string[];

  constructor(
    private readonly link: DriverLink,
    readonly info: PrinterDriverInfo,
  ) {
    this.secretFields = info.secretFields ?? [];
    this.fileKinds = info.fileKinds;
  }

  validateConnection(connection: unknown): Record<string, unknown> {
    return validateAgainst<Record<string, unknown>>(this.info.connectionSchema, connection ?? {}, 'connection');
  }

  create(ctx: DriverContext): PrinterDriver {
    return new PluginDriverProxy(this.link, this.info, ctx);
  }
}

export class PluginDriverProxy implements PrinterDriver {
  readonly announcesStartCommand: boolean;
  readonly handle = `${Date.now().toString(36)}-${nextHandle++}`;
  #state: PrinterState;
  #wanted = false;
  #created = false;
  #pendingStart: StartJobRequest | null = null;
  #lastReport = 0;
  #staleTimer: TimerHandle | null = null;

  constructor(
    private readonly link: DriverLink,
    private readonly info: PrinterDriverInfo,
    private readonly ctx: DriverContext,
  ) {
    this.announcesStartCommand = info.announcesStartCommand === true;
    this.#state = { ...initialPrinterState(), connectionNote: `waiting for plugin ${link.pluginId}` };
    link.register(this.handle, this);
  }

  getState(): PrinterState {
    return this.#state;
  }

  #set(state: PrinterState): void {
    this.#state = state;
    this.ctx.onState(state);
  }

  async start(): Promise<void> {
    this.#wanted = true;
    const staleMs = (this.ctx.staleAfterSeconds ?? 60) * 1000;
    this.#staleTimer ??= this.ctx.clock.setInterval(() => this.#checkStale(staleMs), Math.min(5000, staleMs / 2));
    if (this.link.online()) await this.attach();
  }

  /** Creates and starts the instance inside the plugin (at start, and after every plugin restart). */
  async attach(): Promise<void> {
    if (!this.#wanted) return;
    try {
      await this.link.request(
        'driver.create',
        {
          handle: this.handle,
          driver: this.info.name,
          printer: {
            printerId: this.ctx.printerId,
            printerName: this.ctx.printerName,
            model: this.ctx.model,
            connection: this.ctx.connection,
            settings: this.ctx.settings,
            staleAfterSeconds: this.ctx.staleAfterSeconds,
          },
        },
        this.link.callTimeoutMs(),
      );
      this.#created = true;
      await this.#call('start', undefined);
    } catch (err) {
      this.ctx.logger.warn({ err: (err as Error).message, plugin: this.link.pluginId }, 'plugin driver could not start');
      this.#set({ ...initialPrinterState(), connectionNote: `plugin ${this.link.pluginId}: ${(err as Error).message}` });
    }
  }

  /** The plugin process ended: the printer is offline until it is back. */
  detach(why: string): void {
    this.#created = false;
    this.#pendingStart = null;
    if (this.#wanted) this.#set({ ...initialPrinterState(), connectionNote: `plugin ${this.link.pluginId} is not running: ${why}` });
  }

  /** A state report from the plugin. */
  onReport(raw: unknown): void {
    if (!this.#wanted) return;
    const { state, problem } = checkPluginState(raw, this.link.pluginId);
    if (problem) this.ctx.logger.warn({ plugin: this.link.pluginId, problem }, 'plugin driver state refused');
    this.#lastReport = this.ctx.clock.now();
    this.#set(state);
  }

  #checkStale(staleMs: number): void {
    const s = this.#state;
    if (!this.#created || s.status === 'offline' || s.stale || this.ctx.clock.now() - this.#lastReport < staleMs) return;
    this.#set({ ...s, stale: true, status: 'unknown', connectionNote: `no report from plugin ${this.link.pluginId} for ${staleMs / 1000} s` });
  }

  onUploadProgress(sent: number, total: number): void {
    this.#pendingStart?.onUploadProgress?.(sent, total);
  }

  async beforeStartCommand(): Promise<void> {
    await this.#pendingStart?.beforeStartCommand?.();
  }

  async #call(op: string, args: unknown, timeoutMs = this.link.callTimeoutMs()): Promise<unknown> {
    if (!this.link.online() || !this.#created) {
      throw new DriverError('plugin_unavailable', `the driver's plugin ${this.link.pluginId} is not running`);
    }
    try {
      return await this.link.request('driver.call', { handle: this.handle, op, args }, timeoutMs);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      throw new DriverError(typeof e.code === 'string' ? e.code : 'plugin_error', e.message ?? String(err));
    }
  }

  async stop(): Promise<void> {
    this.#wanted = false;
    this.ctx.clock.clearInterval(this.#staleTimer);
    this.#staleTimer = null;
    this.link.unregister(this.handle);
    if (this.#created && this.link.online()) {
      await this.link.request('driver.dispose', { handle: this.handle }, this.link.callTimeoutMs()).catch(() => {});
    }
    this.#created = false;
  }

  async startJob(req: StartJobRequest): Promise<void> {
    const { onUploadProgress: _u, beforeStartCommand: _b, ...wire } = req;
    this.#pendingStart = req;
    try {
      await this.#call('startJob', wire, START_JOB_TIMEOUT_MS);
    } finally {
      this.#pendingStart = null;
    }
  }

  pause = async () => void (await this.#call('pause', undefined));
  resume = async () => void (await this.#call('resume', undefined));
  cancel = async () => void (await this.#call('cancel', undefined));
  sendGcode = async (lines: string[]) => void (await this.#call('sendGcode', { lines }));
  clearError = async () => void (await this.#call('clearError', undefined));

  async snapshot(): Promise<Buffer | null> {
    const r = (await this.#call('snapshot', undefined)) as { base64?: string } | null;
    return r?.base64 ? Buffer.from(r.base64, 'base64') : null;
  }
}
