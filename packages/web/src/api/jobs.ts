import { api, fetchBlobUrl } from './http.ts';

/** One finished (or given-up) print: GET /api/v1/jobs. */
export interface JobRecord {
  id: string;
  printerId: string;
  printerName: string;
  queueItemId: string | null;
  fileId: string | null;
  fileName: string;
  plate: number | null;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  outcome: 'done' | 'failed' | 'cancelled' | 'unknown';
  reason: string | null;
  /** Optional extras a server may send: a coded reason and who cancelled. */
  reasonCode?: string | null;
  reasonParams?: Record<string, unknown> | null;
  cancelledBy?: string | null;
  filamentGrams: number | null;
}

export interface JobStats {
  prints: number;
  done: number;
  failed: number;
  cancelled: number;
  unknown?: number;
  printSeconds: number;
  filamentGrams: number;
  /** done / (done + failed), 0..1; null when neither happened (from the server when it says). */
  successRate?: number | null;
  /** The same totals per printer (farm-wide answers only). */
  printers?: (JobStats & { printerId: string; printerName: string | null })[];
}

export interface JobFilter {
  printerId?: string;
  fileId?: string;
  outcome?: string;
  from?: string;
  to?: string;
}

function query(filter: JobFilter, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams(extra);
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function listJobs(filter: JobFilter, limit = 50, cursor?: string | null) {
  return api<{ items: JobRecord[]; next: string | null }>(`/jobs${query(filter, { limit: String(limit), ...(cursor ? { cursor } : {}) })}`);
}

export function jobStats(filter: Pick<JobFilter, 'printerId' | 'from' | 'to'>) {
  return api<JobStats>(`/jobs/stats${query(filter)}`);
}

/** The CSV of the same filter, fetched with the session's token and handed to the browser as a download. */
export async function downloadJobsCsv(filter: JobFilter): Promise<void> {
  const url = await fetchBlobUrl(`api/v1/jobs${query(filter, { format: 'csv' })}`);
  const a = document.createElement('a');
  a.href = url;
  a.download = `print-history-${new Date().toISOString().slice(0, 10)}.csv`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Success rate in percent: done of done + failed (a cancel is a person's choice, not a failed
 * print), or null when neither happened. The server's own figure wins when it sends one.
 */
export function successRate(s: JobStats): number | null {
  if (s.successRate !== undefined) return s.successRate === null ? null : Math.round(s.successRate * 100);
  const ended = s.done + s.failed;
  return ended ? Math.round((s.done / ended) * 100) : null;
}
