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

export interface GateResult {
  open: boolean;
  /** Why the gate is closed (null when open). */
  reason: string | null;
}

export const openGate: GateResult = { open: true, reason: null };
export const closedGate = (reason: string): GateResult => ({ open: false, reason });

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
