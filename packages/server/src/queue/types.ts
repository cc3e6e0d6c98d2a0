/**
 * Shapes shared by the queue's pure logic (gatekeeper, scheduler, ETA) and its service.
 * Nothing here does I/O.
 */
import { modelKey } from '../library/printer-models.ts';
import type { JobOverrides } from '../printers/driver.ts';
import { fitProblem } from './fit.ts';

export type QueueItemStatus = 'waiting' | 'printing' | 'done' | 'failed' | 'cancelled';

/** A dispatch's life: `starting` is written before the start command goes out. */
export type JobStatus = 'starting' | 'printing' | 'finished' | 'failed' | 'cancelled' | 'unknown';
export const ACTIVE_JOB_STATUSES: readonly JobStatus[] = ['starting', 'printing'];

export type FailedCopyPolicy = 'retry' | 'fail';

/** Seed 001 §4.1: bed levelling on, flow calibration on, timelapse off. */
export const defaultOverrides: JobOverrides = { bedLeveling: true, flowCalibration: true, timelapse: false };

export interface QueueItemRecord {
  id: string;
  fileId: string;
  plate: number;
  copies: number;
  copiesDone: number;
  status: QueueItemStatus;
  position: number;
  overrides: JobOverrides;
  /** Explicitly allowed printers; null = every printer whose model and nozzle fit the file. */
  printerIds: string[] | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  /** Copies a person cancelled one by one: they are not printed (the item goes on with the rest). */
  copiesCancelled: number;
  /** Copies that failed (information: a failed copy is printed again when the item is retried). */
  copiesFailed: number;
  /** Explicit AMS mapping (index = file filament slot - 1, value = global tray, 254 external, -1 unused); null = automatic. */
  amsMapping: number[] | null;
}

/** Copies of an item that still have to be printed or are printing. */
export function copiesLeft(item: Pick<QueueItemRecord, 'copies' | 'copiesDone' | 'copiesCancelled'>): number {
  return item.copies - item.copiesDone - item.copiesCancelled;
}

export interface JobRecord {
  /** The dispatch id. */
  id: string;
  queueItemId: string;
  printerId: string;
  /** The id sent to the printer (numeric string < 2^31). */
  jobId: string;
  status: JobStatus;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  /** When the start command went out (null: never sent, e.g. the server died during the upload). */
  sentAt?: string | null;
  /** History (migration 005): what was printed where, copied in at dispatch. */
  fileId?: string | null;
  fileName?: string | null;
  plate?: number | null;
  printerName?: string | null;
  cancelledBy?: string | null;
  filamentGrams?: number | null;
  durationSeconds?: number | null;
  retriedAt?: string | null;
}

/** What decides whether a file fits a printer. null = not known, fits anything. */
export interface FitSpec {
  model: string | null;
  nozzleDiameter: number | null;
  /** File side: the file's kind ('3mf', 'gcode', 'bgcode'). */
  kind?: string | null;
  /** Printer side: the kinds its driver can print (Bambu: 3mf; Marlin, Klipper: gcode). */
  kinds?: readonly string[] | null;
}

/** Stable codes of a closed gate (docs/operator-api-queue.md); the UI translates by code + params. */
export type GateCode =
  | 'disabled'
  | 'offline'
  | 'connecting'
  | 'reconciling'
  | 'no_full_status'
  | 'stale'
  | 'attention'
  | 'start_not_confirmed'
  | 'printer_error'
  | 'command_in_flight'
  | 'printing_queue_job'
  | 'dispatch_hold'
  | 'status_unknown'
  | 'printer_busy'
  | 'plate_clear_wanted'
  | 'start_retry_wait'
  | 'cooling_down'
  | 'queue_not_running'
  | 'unknown_printer';

export interface GateResult {
  open: boolean;
  /** Stable code of why the gate is closed (null when open). */
  code: GateCode | null;
  /** Why the gate is closed, in English (null when open). */
  reason: string | null;
  /** Values the translated text needs (seconds left, status, error text...). */
  params: Record<string, unknown>;
}

export const openGate: GateResult = { open: true, code: null, reason: null, params: {} };
export const closedGate = (code: GateCode, reason: string, params: Record<string, unknown> = {}): GateResult => ({
  open: false,
  code,
  reason,
  params,
});

/** Normalises a printer model name for matching: the canonical model ("X1 Carbon" == "X1C" == "BL-P001"). */
export function normaliseModel(model: string | null | undefined): string | null {
  return modelKey(model);
}

/** A file fits a printer when fit.ts finds no problem (model, nozzle, file kind). */
export function fits(file: FitSpec, printer: FitSpec): boolean {
  return fitProblem(file, printer) === null;
}

/** Key under which items with the same fit requirements share one list of compatible printers. */
export function fitKey(file: FitSpec): string {
  return `${file.kind ?? '*'}|${normaliseModel(file.model) ?? '*'}|${file.nozzleDiameter == null ? '*' : file.nozzleDiameter.toFixed(2)}`;
}
