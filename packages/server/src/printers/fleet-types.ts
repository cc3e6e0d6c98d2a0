import type { PrinterDriver } from './driver.ts';
import type { PrinterState, PrinterSummary } from './model.ts';

/** One managed printer as the rest of the server sees it. */
export interface FleetPrinter {
  summary: PrinterSummary;
  driver: PrinterDriver;
  /** Latest state (same as driver.getState(), with staleness applied by the fleet). */
  state: PrinterState;
  /** Decrypted connection (for drivers and internal use only; never return it from the API). */
}

/** What the queue and the HTTP routes need from the fleet. */
export interface FleetView {
  list(): FleetPrinter[];
  get(printerId: string): FleetPrinter | undefined;
  /**
   * Scale-out: whether this process runs the printer's driver (holds its lease). Printers owned by
   * another process are listed with the state it reports, but this process never dispatches to them
   * nor follows their jobs. Absent: every printer is local (one process).
   */
  isLocal?(printerId: string): boolean;
  /** Records that the AI monitor paused this printer's print (its stage then says so). */
  markPausedBy?(printerId: string, by: 'ai'): void;
}
