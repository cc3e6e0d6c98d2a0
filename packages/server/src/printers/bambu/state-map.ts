/**
 * Pure translation of what the driver knows (link status + merged report) into PrinterState
 * (bambu-protocol.md §1.5). No I/O, no timers: the driver passes `now`.
 *
 * gcode_state → status: IDLE/FINISH/FAILED → idle (FINISH/FAILED stay until the next job and are
 * recorded in lastJob), PREPARE/SLICING → preparing, RUNNING → printing, PAUSE → paused,
 * INIT/OFFLINE/UNKNOWN/anything else → unknown, with a notice naming the value (never idle).
 * `error` only when the printer has stopped with a cause (errors.ts assessReport); HMS entries
 * that do not stop it are notices.
 */
import type { PrinterError, PrinterNotice, PrinterState, PrinterStatus, ReportedIdentity, Temperature } from '../model.ts';
import { assessReport, CANCEL_ECHO_CODES, formatPrintError } from './errors.ts';
import type { BambuReport } from './report.ts';
import { stageCode, stageText } from './stages.ts';

export type LinkStatus = 'offline' | 'connecting' | 'connected';

export interface DriverView {
  link: LinkStatus;
  /** A full (`msg: 0`) report arrived since the last (re)connect. */
  fullStatus: boolean;
  stale: boolean;
  report: BambuReport | null;
  lastJob: PrinterState['lastJob'];
  connectionNote: string | null;
  /** Link errors the driver itself found (wrong access code, TLS certificate refused). */
  driverError: PrinterError | null;
  /** An ack showed that Authorization Control refuses our commands (verify failed). */
  verifyFailed?: boolean;
  /** What the printer says it is (get_version product name / project code, report nozzle_diameter). */
  reported?: ReportedIdentity;
  updatedAt: number | null;
  /** Plates of jobs this driver started, by job id (the wire does not carry the plate on P1/A1). */
  platesByJobId: ReadonlyMap<string, number>;
  /** A1/P1 have no chamber sensor and report a constant 5 °C: leave chamber out. */
  hideChamber: boolean;
}

const ACTIVE_STATES = new Set(['PREPARE', 'SLICING', 'RUNNING', 'PAUSE']);

export function isActiveGcodeState(state: string | null): boolean {
  return state !== null && ACTIVE_STATES.has(state);
}

/** Every gcode_state value the driver knows (bambu-protocol.md §1.5, ha-bambulab's whitelist). */
export const KNOWN_GCODE_STATES = new Set([
  'IDLE',
  'PREPARE',
  'SLICING',
  'RUNNING',
  'PAUSE',
  'FINISH',
  'FAILED',
  'INIT',
  'OFFLINE',
  'UNKNOWN',
]);

/** The notice for a gcode_state value the driver does not know (the printer is `unknown` then). */
export function unknownStateNotice(state: string | null): PrinterNotice {
  const shown = state ?? '(none)';
  return {
    level: 'warning',
    code: 'printer_state_unknown',
    message: `The printer reports a state this driver does not know: ${shown}`,
    messages: {
      en: `The printer reports a state this driver does not know: ${shown}`,
      zh: `打印机报告了驱动不认识的状态：${shown}`,
    },
    params: { state: shown, field: 'gcode_state' },
  };
}

export function statusFromGcodeState(state: string | null): PrinterStatus {
  switch (state) {
    case 'IDLE':
    case 'FINISH':
    case 'FAILED':
      return 'idle';
    case 'PREPARE':
    case 'SLICING':
      return 'preparing';
    case 'RUNNING':
      return 'printing';
    case 'PAUSE':
      return 'paused';
    default:
      return 'unknown';
  }
}

/** The id we gave the job (`subtask_id`, else `task_id`); "0"/"" mean "none" on the wire. */
export function jobIdOf(report: BambuReport): string | null {
  for (const id of [report.subtaskId, report.taskId]) if (id && id !== '0') return id;
  return null;
}

/**
 * lastJob after this report. A FINISH/FAILED seen for the first time gets `at = now` (the plate-swap
 * cooldown counts from it); the same job still shown (e.g. after a reconnect) keeps its record.
 * FAILED with a cancel echo (0300_400C / 0500_400E) is `cancelled`; the echo clears a few seconds
 * later, so the first classification of a job sticks.
 */
export function nextLastJob(prev: PrinterState['lastJob'], report: BambuReport, now: number): PrinterState['lastJob'] {
  const state = report.gcodeState;
  if (state !== 'FINISH' && state !== 'FAILED') return prev;
  const jobId = jobIdOf(report);
  const finished = state === 'FINISH';
  if (prev && prev.jobId === jobId && (prev.outcome === 'finished') === finished) return prev;
  const cancelled = !finished && CANCEL_ECHO_CODES.has(formatPrintError(report.printError));
  return { jobId, outcome: finished ? 'finished' : cancelled ? 'cancelled' : 'failed', at: now };
}

function temperature(actual: number | null, target: number | null): Temperature | undefined {
  if (actual === null) return undefined;
  return { actual, target: target ?? 0 };
}

function temperatures(report: BambuReport, hideChamber: boolean): PrinterState['temperatures'] {
  const out: PrinterState['temperatures'] = {};
  const nozzle = temperature(report.nozzle, report.nozzleTarget);
  const bed = temperature(report.bed, report.bedTarget);
  const chamber = hideChamber ? undefined : temperature(report.chamber, report.chamberTarget);
  if (nozzle) out.nozzle = nozzle;
  if (bed) out.bed = bed;
  if (chamber) out.chamber = chamber;
  return out;
}

function plateFromGcodeFile(file: string | null): number | null {
  const m = file?.match(/plate_(\d+)\.gcode/);
  return m ? Number(m[1]) : null;
}

export function buildState(view: DriverView): PrinterState {
  const r = view.report;
  const assessed = r ? assessReport(r, { verifyFailed: view.verifyFailed }) : { error: null, notices: [] };
  const fault = view.driverError ?? assessed.error;
  const notices = [...assessed.notices];
  if (r && view.fullStatus && !KNOWN_GCODE_STATES.has(r.gcodeState ?? '')) notices.push(unknownStateNotice(r.gcodeState));
  let status: PrinterStatus;
  if (view.link === 'offline') status = 'offline';
  else if (view.link === 'connecting') status = 'connecting';
  else if (!view.fullStatus || view.stale || !r) status = 'unknown';
  else if (fault) status = 'error';
  else status = statusFromGcodeState(r.gcodeState);

  const active = r ? isActiveGcodeState(r.gcodeState) : false;
  const jobId = r ? jobIdOf(r) : null;
  const remaining = r?.remainingMinutes ?? null;
  const layerKnown = r && (r.layerNum !== null || r.totalLayerNum !== null);
  return {
    status,
    fullStatus: view.fullStatus,
    stale: view.stale,
    progress: r?.percent ?? null,
    remainingSeconds: remaining === null ? null : Math.max(0, Math.round(remaining * 60)),
    layer: layerKnown ? { current: r.layerNum ?? 0, total: r.totalLayerNum ?? 0 } : null,
    temperatures: r ? temperatures(r, view.hideChamber) : {},
    job:
      r && active
        ? {
            jobId,
            fileName: r.subtaskName || r.gcodeFile || null,
            plate: (jobId ? view.platesByJobId.get(jobId) : undefined) ?? plateFromGcodeFile(r.gcodeFile),
          }
        : null,
    error: fault,
    notices,
    reported: view.reported ?? { model: null, nozzleDiameter: null },
    stage: r ? stageText(r.stgCur, r.gcodeState) : null,
    stageCode: r ? stageCode(r.stgCur, r.gcodeState) : null,
    lastJob: view.lastJob,
    connectionNote: view.connectionNote,
    updatedAt: view.updatedAt,
    filament: r?.filament ?? null,
  };
}
