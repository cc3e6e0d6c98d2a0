import { DriverError, type PrinterDriver } from './driver.ts';
import { type PrinterState, initialPrinterState } from './model.ts';

/** Stands in for the driver of a printer the user disabled: offline, refuses every command. */
export class DisabledDriver implements PrinterDriver {
  #state: PrinterState = { ...initialPrinterState(), connectionNote: 'disabled' };
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  getState(): PrinterState {
    return this.#state;
  }
  #refuse(): Promise<never> {
    return Promise.reject(new DriverError('printer_disabled', 'the printer is disabled; enable it first'));
  }
  startJob = () => this.#refuse();
  pause = () => this.#refuse();
  resume = () => this.#refuse();
  cancel = () => this.#refuse();
  sendGcode = () => this.#refuse();
  async snapshot(): Promise<Buffer | null> {
    return null;
  }
}
