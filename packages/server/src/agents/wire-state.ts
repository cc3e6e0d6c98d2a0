/**
 * Printer states on the agent link. Pure functions used by both ends: the agent decides what is an
 * event (journaled, replayed) and what is telemetry (latest value only); the server never trusts a
 * state from the wire as it is: an unexpected value becomes `unknown`, never "idle and ready".
 */
import { type PrinterState, type PrinterStatus, initialPrinterState } from '../printers/model.ts';

const STATUSES: readonly PrinterStatus[] = ['offline', 'connecting', 'unknown', 'idle', 'preparing', 'printing', 'paused', 'finished', 'error'];
const OUTCOMES = ['finished', 'failed', 'cancelled'] as const;

/** Fields that change with every report (progress, temperatures …): sent as telemetry, not journaled. */
export const TELEMETRY_FIELDS = ['progress', 'remainingSeconds', 'layer', 'temperatures', 'stage', 'updatedAt'] as const;
type TelemetryField = (typeof TELEMETRY_FIELDS)[number];

/**
 * The part of a state whose change is an event: status, errors, jobs and their ends, connection
 * notes. A job ending while the link is down must reach the server, in order, exactly once.
 */
export function significantKey(s: PrinterState): string {
  return JSON.stringify([s.status, s.fullStatus, s.stale, s.error, s.job, s.lastJob, s.connectionNote, s.notices, s.reported]);
}

/** Telemetry fields of `next` that differ from `prev` (all of them when prev is null). */
export function telemetryDelta(prev: PrinterState | null, next: PrinterState): Partial<PrinterState> | null {
  const out: Partial<Record<TelemetryField, unknown>> = {};
  let changed = false;
  for (const f of TELEMETRY_FIELDS) {
    if (!prev || JSON.stringify(prev[f]) !== JSON.stringify(next[f])) {
      out[f] = next[f];
      changed = true;
    }
  }
  return changed ? (out as Partial<PrinterState>) : null;
}

/** Shifts the times in a state from one clock to another (agent → server: + offset). */
export function shiftTimes(s: PrinterState, offsetMs: number): PrinterState {
  if (!offsetMs) return s;
  return {
    ...s,
    updatedAt: s.updatedAt === null ? null : s.updatedAt + offsetMs,
    lastJob: s.lastJob ? { ...s.lastJob, at: s.lastJob.at + offsetMs } : null,
  };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown, max = 2000): string | null => (typeof v === 'string' ? v.slice(0, max) : null);
const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

function temperatures(v: unknown): PrinterState['temperatures'] {
  const out: PrinterState['temperatures'] = {};
  const o = obj(v);
  if (!o) return out;
  for (const [name, t] of Object.entries(o).slice(0, 20)) {
    const tt = obj(t);
    const actual = num(tt?.actual);
    const target = num(tt?.target);
    if (actual !== null && target !== null && /^[\w-]{1,32}$/.test(name)) out[name] = { actual, target };
  }
  return out;
}

/** Applies telemetry fields from the wire onto `base`, each checked; unknown fields are ignored. */
export function mergeTelemetry(base: PrinterState, raw: Record<string, unknown>): PrinterState {
  const s = { ...base };
  if ('progress' in raw) s.progress = num(raw.progress);
  if ('remainingSeconds' in raw) s.remainingSeconds = num(raw.remainingSeconds);
  if ('layer' in raw) {
    const l = obj(raw.layer);
    const current = num(l?.current);
    const total = num(l?.total);
    s.layer = current !== null && total !== null ? { current, total } : null;
  }
  if ('temperatures' in raw) s.temperatures = temperatures(raw.temperatures);
  if ('stage' in raw) s.stage = str(raw.stage, 200);
  if ('updatedAt' in raw) s.updatedAt = num(raw.updatedAt);
  return s;
}

/** A full state from the wire, checked field by field. */
export function sanitizeState(raw: unknown): PrinterState {
  const o = obj(raw) ?? {};
  const s = mergeTelemetry(initialPrinterState(), o);
  const status = o.status as PrinterStatus;
  const known = STATUSES.includes(status);
  s.status = known ? status : 'unknown';
  s.fullStatus = known && o.fullStatus === true;
  s.stale = o.stale === true;
  const job = obj(o.job);
  s.job = job ? { jobId: str(job.jobId, 50), fileName: str(job.fileName, 255), plate: num(job.plate) } : null;
  const err = obj(o.error);
  s.error = err ? { code: str(err.code, 100) ?? 'error', message: str(err.message) ?? 'printer error' } : null;
  if (err?.messages && obj(err.messages)) {
    const m = obj(err.messages)!;
    if (typeof m.en === 'string' && typeof m.zh === 'string') s.error!.messages = { en: m.en, zh: m.zh };
  }
  const lastJob = obj(o.lastJob);
  const outcome = lastJob?.outcome as (typeof OUTCOMES)[number];
  const at = num(lastJob?.at);
  s.lastJob = lastJob && OUTCOMES.includes(outcome) && at !== null ? { jobId: str(lastJob.jobId, 50), outcome, at } : null;
  s.notices = Array.isArray(o.notices)
    ? o.notices.slice(0, 50).flatMap((n) => {
        const nn = obj(n);
        if (!nn || (nn.level !== 'info' && nn.level !== 'warning')) return [];
        return [{ level: nn.level, code: str(nn.code, 100) ?? 'notice', message: str(nn.message) ?? '' } as PrinterState['notices'][number]];
      })
    : [];
  const rep = obj(o.reported);
  s.reported = { model: str(rep?.model, 50), nozzleDiameter: num(rep?.nozzleDiameter), firmware: str(rep?.firmware, 100) };
  s.connectionNote = str(o.connectionNote, 500);
  if (!known) {
    s.notices.push({ level: 'warning', code: 'agent_unknown_status', message: `the agent sent an unknown status ${JSON.stringify(o.status)}` });
  }
  return s;
}
