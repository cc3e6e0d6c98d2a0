import type { DriverContext, PrinterDriver, StartJobRequest } from '../driver.ts';
import { DriverError } from '../driver.ts';
import { initialPrinterState, type PrinterState } from '../model.ts';

export interface InProcessSimulator {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly url: string;
}

/**
 * A real driver talking over a real socket to a simulator started in this process: start() boots
 * the simulator, then connects the driver to its url. Used by the simulated-* driver kinds.
 */
export class SimulatedPrinterDriver<S extends InProcessSimulator> implements PrinterDriver {
  #inner: PrinterDriver | null = null;
  #sim: S | null = null;

  constructor(
    private readonly ctx: DriverContext,
    private readonly makeSimulator: () => S,
    private readonly makeDriver: (ctx: DriverContext, sim: S) => PrinterDriver,
    private readonly live: Set<SimulatedPrinterDriver<S>>,
  ) {}

  get announcesStartCommand(): boolean {
    return this.#inner?.announcesStartCommand ?? false;
  }

  get simulator(): S | null {
    return this.#sim;
  }

  async start(): Promise<void> {
    this.live.add(this);
    if (!this.#sim) {
      this.#sim = this.makeSimulator();
      await this.#sim.start();
    }
    this.#inner ??= this.makeDriver(this.ctx, this.#sim);
    await this.#inner.start();
  }

  async stop(): Promise<void> {
    this.live.delete(this);
    await this.#inner?.stop();
    await this.#sim?.stop();
    this.#inner = null;
    this.#sim = null;
  }

  getState(): PrinterState {
    return this.#inner?.getState() ?? initialPrinterState();
  }

  #driver(): PrinterDriver {
    if (!this.#inner) throw new DriverError('not_connected', 'simulated printer is not started');
    return this.#inner;
  }

  startJob(req: StartJobRequest): Promise<void> {
    return this.#driver().startJob(req);
  }
  pause(): Promise<void> {
    return this.#driver().pause();
  }
  resume(): Promise<void> {
    return this.#driver().resume();
  }
  cancel(): Promise<void> {
    return this.#driver().cancel();
  }
  sendGcode(lines: string[]): Promise<void> {
    return this.#driver().sendGcode(lines);
  }
  console(lines: string[]): Promise<string[]> {
    const d = this.#driver();
    if (!d.console) return Promise.resolve([]);
    return d.console(lines);
  }
  setLight(on: boolean): Promise<void> {
    const d = this.#driver();
    return d.setLight ? d.setLight(on) : Promise.reject(new DriverError('not_supported', 'this printer has no light control'));
  }
  setFan(percent: number): Promise<void> {
    const d = this.#driver();
    return d.setFan ? d.setFan(percent) : Promise.reject(new DriverError('not_supported', 'this printer has no fan control'));
  }
  snapshot(): Promise<Buffer | null> {
    return this.#driver().snapshot();
  }
  async clearError(): Promise<void> {
    await this.#driver().clearError?.();
  }
}
