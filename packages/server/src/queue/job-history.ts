/**
 * Print history (docs/api.md Additions, "Print history"): every ended job from the `jobs` table,
 * newest first with a keyset cursor, filters, CSV, and totals per printer and for the farm.
 * Reads go straight to the database (history is not kept in memory), so they survive restarts and
 * removed queue items.
 */
import { type ExpressionBuilder, sql } from 'kysely';
import { badRequest } from '../errors.ts';
import type { Database, Db } from '../storage/schema.ts';
import { toJob } from './queue-repo.ts';
import type { JobRecord } from './types.ts';

export type JobOutcomeName = 'done' | 'failed' | 'cancelled' | 'unknown';
export const JOB_OUTCOMES: readonly JobOutcomeName[] = ['done', 'failed', 'cancelled', 'unknown'];

/** One row of the history (the fixed item fields plus `cancelledBy`). */
export interface JobHistoryItem {
  id: string;
  printerId: string;
  printerName: string | null;
  queueItemId: string;
  fileId: string | null;
  fileName: string | null;
  plate: number | null;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  /** `done|failed|cancelled|unknown`; `starting`/`printing` only for an active job read by id. */
  outcome: JobOutcomeName | 'starting' | 'printing';
  reason: string | null;
  filamentGrams: number | null;
  cancelledBy: string | null;
}

export interface JobFilter {
  printerId?: string;
  fileId?: string;
  outcome?: JobOutcomeName;
  from?: string;
  to?: string;
}

export interface JobStats {
  prints: number;
  done: number;
  failed: number;
  cancelled: number;
  unknown: number;
  printSeconds: number;
  filamentGrams: number;
  /** done / (done + failed); null when neither happened. Cancelled prints are a person's choice. */
  successRate: number | null;
}

const STATUS_OF: Record<JobOutcomeName, string> = {
  done: 'finished',
  failed: 'failed',
  cancelled: 'cancelled',
  unknown: 'unknown',
};
const ENDED = Object.values(STATUS_OF);

/** Pure: a job record as a history row (names fall back to the live ones the caller knows). */
export function presentJob(
  job: JobRecord,
  names: { printerName?: string | null; fileName?: string | null } = {},
): JobHistoryItem {
  const outcome: JobHistoryItem['outcome'] =
    job.status === 'finished' ? 'done' : (job.status as JobHistoryItem['outcome']);
  return {
    id: job.id,
    printerId: job.printerId,
    printerName: job.printerName ?? names.printerName ?? null,
    queueItemId: job.queueItemId,
    fileId: job.fileId ?? null,
    fileName: job.fileName ?? names.fileName ?? null,
    plate: job.plate ?? null,
    startedAt: job.startedAt,
    endedAt: job.endedAt,
    durationSeconds: job.durationSeconds ?? null,
    outcome,
    reason: job.error,
    filamentGrams: job.filamentGrams ?? null,
    cancelledBy: job.cancelledBy ?? null,
  };
}

export const CSV_COLUMNS: readonly (keyof JobHistoryItem)[] = [
  'id',
  'printerId',
  'printerName',
  'queueItemId',
  'fileId',
  'fileName',
  'plate',
  'startedAt',
  'endedAt',
  'durationSeconds',
  'outcome',
  'reason',
  'filamentGrams',
  'cancelledBy',
];

/** RFC 4180 field; a leading = + - @ is prefixed with ' so a spreadsheet never runs it as a formula. */
function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s) && typeof v === 'string') s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Pure: history rows as CSV text (header row, CRLF line ends). */
export function toCsv(items: readonly JobHistoryItem[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const item of items) lines.push(CSV_COLUMNS.map((c) => csvField(item[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

function encodeCursor(job: JobRecord): string {
  return Buffer.from(JSON.stringify([job.endedAt, job.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    // fall through
  }
  throw badRequest('cursor: not a cursor from this API', 'bad_cursor');
}

function checkTime(name: string, v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw badRequest(`${name}: not an ISO date/time`, 'bad_time', { field: name });
  return new Date(ms).toISOString();
}

export class JobHistory {
  constructor(private readonly db: Db) {}

  #where(filter: JobFilter) {
    const from = checkTime('from', filter.from);
    const to = checkTime('to', filter.to);
    if (filter.outcome !== undefined && !JOB_OUTCOMES.includes(filter.outcome)) {
      throw badRequest(`outcome: one of ${JOB_OUTCOMES.join(', ')}`, 'bad_outcome', { field: 'outcome' });
    }
    return (eb: ExpressionBuilder<Database, 'jobs'>) => {
      const conds = [
        eb('status', 'in', filter.outcome ? [STATUS_OF[filter.outcome]] : ENDED),
        eb('ended_at', 'is not', null),
      ];
      if (filter.printerId) conds.push(eb('printer_id', '=', filter.printerId));
      if (filter.fileId) conds.push(eb('file_id', '=', filter.fileId));
      if (from) conds.push(eb('ended_at', '>=', from));
      if (to) conds.push(eb('ended_at', '<=', to));
      return eb.and(conds);
    };
  }

  /** Ended jobs, newest first (by end time, then id), `limit` per page. */
  async list(
    filter: JobFilter,
    page: { limit: number; cursor?: string },
  ): Promise<{ items: JobRecord[]; next: string | null }> {
    let q = this.db.selectFrom('jobs').selectAll().where(this.#where(filter));
    if (page.cursor) {
      const [endedAt, id] = decodeCursor(page.cursor);
      q = q.where((eb) =>
        eb.or([eb('ended_at', '<', endedAt), eb.and([eb('ended_at', '=', endedAt), eb('id', '<', id)])]),
      );
    }
    const rows = await q
      .orderBy('ended_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
      .execute();
    const jobs = rows.slice(0, page.limit).map(toJob);
    return { items: jobs, next: rows.length > page.limit ? encodeCursor(jobs.at(-1)!) : null };
  }

  /** Totals for the filter, for the farm and per printer (printSeconds: started → ended). */
  async stats(
    filter: Omit<JobFilter, 'outcome'>,
  ): Promise<JobStats & { printers: Array<JobStats & { printerId: string; printerName: string | null }> }> {
    const rows = await this.db
      .selectFrom('jobs')
      .where(this.#where(filter))
      .select((eb) => [
        'printer_id',
        eb.fn.max('printer_name').as('printer_name'),
        'status',
        eb.fn.countAll<number>().as('n'),
        sql<number>`coalesce(sum(duration_seconds), 0)`.as('seconds'),
        sql<number>`coalesce(sum(filament_grams), 0)`.as('grams'),
      ])
      .groupBy(['printer_id', 'status'])
      .execute();
    const empty = (): JobStats => ({
      prints: 0,
      done: 0,
      failed: 0,
      cancelled: 0,
      unknown: 0,
      printSeconds: 0,
      filamentGrams: 0,
      successRate: null,
    });
    const farm = empty();
    const per = new Map<string, JobStats & { printerId: string; printerName: string | null }>();
    for (const r of rows) {
      const p = per.get(r.printer_id) ?? { printerId: r.printer_id, printerName: r.printer_name ?? null, ...empty() };
      per.set(r.printer_id, p);
      for (const t of [farm, p]) {
        const n = Number(r.n);
        t.prints += n;
        const outcome = (Object.keys(STATUS_OF) as JobOutcomeName[]).find((k) => STATUS_OF[k] === r.status);
        if (outcome) t[outcome] += n;
        t.printSeconds += Number(r.seconds) || 0;
        t.filamentGrams += Number(r.grams) || 0;
      }
    }
    const finish = <T extends JobStats>(t: T): T => {
      t.printSeconds = Math.round(t.printSeconds);
      t.filamentGrams = Math.round(t.filamentGrams * 100) / 100;
      t.successRate = t.done + t.failed > 0 ? Math.round((t.done / (t.done + t.failed)) * 10000) / 10000 : null;
      return t;
    };
    return { ...finish(farm), printers: [...per.values()].map(finish).sort((a, b) => b.prints - a.prints) };
  }
}
