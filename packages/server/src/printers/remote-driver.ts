import { DriverError, type PrinterDriver } from './driver.ts';
import type { PrinterState } from './model.ts';

/** A printer command sent to the process that runs the printer (scale-out, cluster/ RPC). */
export type ForwardedCommand =
  | { method: 'pause' | 'resume' | 'cancel' | 'snapshot' | 'clearError'; args: [] }
  | { method: 'sendGcode'; args: [string[]] }
  | { method: 'trustCertificate'; args: [string] };

/** Sends a command to the printer's owner; resolves with its result (a snapshot: base64 JPEG or null). */
export type RemoteCommand = (printerId: string, command: ForwardedCommand) => Promise<unknown>;

/**
 * Stands in for the driver of a printer another server process runs (scale-out): its state is the
 * one that process publishes, and commands travel to it. It never starts a job: the queue
 * dispatches only to printers it owns.
 */
export class RemoteDriver implements PrinterDriver {
  constructor(
    readonly printerId: string,
    private readonly state: () => PrinterState,
    private readonly forward: RemoteCommand | null,
  ) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  getState(): PrinterState {
    return this.state();
  }

  #send(command: ForwardedCommand): Promise<unknown> {
    if (!this.forward)
      return Promise.reject(new DriverError('printer_elsewhere', 'the printer is run by another server process'));
    return this.forward(this.printerId, command);
  }

  startJob = (): Promise<void> =>
    Promise.reject(
      new DriverError('printer_elsewhere', 'the printer is run by another server process; only it starts jobs there'),
    );
  pause = async (): Promise<void> => void (await this.#send({ method: 'pause', args: [] }));
  resume = async (): Promise<void> => void (await this.#send({ method: 'resume', args: [] }));
  cancel = async (): Promise<void> => void (await this.#send({ method: 'cancel', args: [] }));
  clearError = async (): Promise<void> => void (await this.#send({ method: 'clearError', args: [] }));
  sendGcode = async (lines: string[]): Promise<void> => void (await this.#send({ method: 'sendGcode', args: [lines] }));
  trustCertificate = async (fingerprint256: string): Promise<void> =>
    void (await this.#send({ method: 'trustCertificate', args: [fingerprint256] }));
  async snapshot(): Promise<Buffer | null> {
    const b64 = await this.#send({ method: 'snapshot', args: [] });
    return typeof b64 === 'string' ? Buffer.from(b64, 'base64') : null;
  }
}
