/**
 * A printer state reported by a plugin driver, checked before the fleet and the queue see it. The
 * queue only starts jobs on a trustworthy `idle`/`finished` state, so anything that does not fit
 * the model becomes `unknown` with a note saying what was wrong: never "idle and ready".
 */
import { type PrinterNotice, type PrinterState, type PrinterStatus, initialPrinterState } from '../printers/model.ts';

const statuses: PrinterStatus[] = ['offline', 'connecting', 'unknown', 'idle', 'preparing', 'printing', 'paused', 'finished', 'error'];

const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strOrNull = (v: unknown, max = 500): string | null => (typeof v === 'string' ? v.slice(0, max) : null);

function temperature(v: unknown): { actual: number; target: number } | undefined {
  if (!isObj(v)) return undefined;
  const actual = numOrNull(v.actual);
  const target = numOrNull(v.target);
  return actual === null || target === null ? undefined : { actual, target };
}

/** Returns a state the rest of the server can trust, and what was wrong with the input (if anything). */
export function checkPluginState(raw: unknown, pluginId: string): { state: PrinterState; problem: string | null } {
  const base = initialPrinterState();
  if (!isObj(raw)) return { state: { ...base, status: 'unknown', connectionNote: `plugin ${pluginId} sent a state that is not an object` }, problem: 'not an object' };
  let problem: string | null = null;
  let status: PrinterStatus = statuses.includes(raw.status) ? raw.status : 'unknown';
  if (status !== raw.status) problem = `unknown status ${JSON.stringify(raw.status)}`;
  const temps: PrinterState['temperatures'] = {};
  if (isObj(raw.temperatures)) {
    for (const [k, v] of Object.entries(raw.temperatures).slice(0, 16)) {
      const t = temperature(v);
      if (t) temps[k.slice(0, 40)] = t;
    }
  }
  const error = isObj(raw.error) && typeof raw.error.code === 'string' && typeof raw.error.message === 'string' ? { code: raw.error.code.slice(0, 100), message: raw.error.message.slice(0, 1000) } : null;
  if (raw.error && !error) problem ??= 'error must be {code, message}';
  if (status === 'error' && !error) problem ??= 'status error without an error';
  const layer = isObj(raw.layer) && numOrNull(raw.layer.current) !== null && numOrNull(raw.layer.total) !== null ? { current: raw.layer.current, total: raw.layer.total } : null;
  const job = isObj(raw.job)
    ? { jobId: strOrNull(raw.job.jobId, 100), fileName: strOrNull(raw.job.fileName), plate: numOrNull(raw.job.plate) }
    : null;
  const outcomes = ['finished', 'failed', 'cancelled'];
  const lastJob =
    isObj(raw.lastJob) && outcomes.includes(raw.lastJob.outcome) && numOrNull(raw.lastJob.at) !== null
      ? { jobId: strOrNull(raw.lastJob.jobId, 100), outcome: raw.lastJob.outcome, at: raw.lastJob.at }
      : null;
  const fullStatus = raw.fullStatus === true;
  const stale = raw.stale === true;
  if (problem) status = status === 'offline' ? 'offline' : 'unknown';
  const notices: PrinterNotice[] = Array.isArray(raw.notices)
    ? raw.notices
        .filter((n: unknown) => isObj(n) && typeof n.code === 'string' && typeof n.message === 'string')
        .slice(0, 20)
                .map((n: any): PrinterNotice => ({ level: n.level === 'warning' ? 'warning' : 'info', code: n.code.slice(0, 100), message: n.message.slice(0, 1000) }))
    : [];
  if (problem) notices.push({ level: 'warning', code: 'plugin_state_invalid', message: `plugin ${pluginId}: ${problem}` });
  const progress = numOrNull(raw.progress);
  return {
    problem,
    state: {
      status,
      fullStatus: problem ? false : fullStatus,
      stale,
      progress: progress === null ? null : Math.min(100, Math.max(0, progress)),
      remainingSeconds: numOrNull(raw.remainingSeconds),
      layer,
      temperatures: temps,
      job,
      error,
      notices,
      reported: isObj(raw.reported)
        ? { model: strOrNull(raw.reported.model, 100), nozzleDiameter: numOrNull(raw.reported.nozzleDiameter), firmware: strOrNull(raw.reported.firmware, 200) }
        : { model: null, nozzleDiameter: null },
      stage: strOrNull(raw.stage, 200),
      lastJob: lastJob as PrinterState['lastJob'],
      connectionNote: strOrNull(raw.connectionNote, 500),
      updatedAt: numOrNull(raw.updatedAt),
    },
  };
}
