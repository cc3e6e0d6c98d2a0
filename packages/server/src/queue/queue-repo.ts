/**
 * Queue persistence: queue_items, jobs and the queue's kv rows. Every public write is one
 * transaction; job status changes are guarded transitions (`WHERE status IN (...)`), so a dispatch
 * can never be moved twice, and a unique index keeps one active job per printer (migration 002).
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, Db } from '../storage/schema.ts';
import type { JobOverrides } from '../printers/driver.ts';
import {
  ACTIVE_JOB_STATUSES,
  type JobRecord,
  type JobStatus,
  type QueueItemRecord,
  type QueueItemStatus,
  defaultOverrides,
} from './types.ts';

type Tx = Kysely<Database> | Transaction<Database>;

export const KV_RUNNING = 'queue.running';
export const KV_FAILED_COPY_POLICY = 'queue.failedCopyPolicy';
export const kvPlateNeedsClearing = (printerId: string) => `queue.plateNeedsClearing.${printerId}`;
export const kvAttention = (printerId: string) => `queue.attention.${printerId}`;

type ItemRow = Selectable<Database['queue_items']>;
type JobRow = Database['jobs'];

function parseOverrides(json: string): JobOverrides {
  try {
    return { ...defaultOverrides, ...(JSON.parse(json) as Partial<JobOverrides>) };
  } catch {
    return { ...defaultOverrides };
  }
}

function toItem(r: ItemRow): QueueItemRecord {
  const ids = JSON.parse(r.printer_ids_json) as string[] | null;
  return {
    id: r.id,
    fileId: r.file_id,
    plate: Number(r.plate),
    copies: Number(r.copies),
    copiesDone: Number(r.copies_done),
    status: r.status as QueueItemStatus,
    position: Number(r.position),
    overrides: parseOverrides(r.overrides_json),
    printerIds: Array.isArray(ids) ? ids : null,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    copiesCancelled: Number(r.copies_cancelled ?? 0),
    copiesFailed: Number(r.copies_failed ?? 0),
    amsMapping: parseMapping(r.ams_mapping_json),
  };
}

function parseMapping(json: string | null): number[] | null {
  if (!json) return null;
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) && v.every((n) => Number.isInteger(n)) ? (v as number[]) : null;
  } catch {
    return null;
  }
}

function toItemRow(i: QueueItemRecord): ItemRow {
  return {
    id: i.id,
    file_id: i.fileId,
    plate: i.plate,
    copies: i.copies,
    copies_done: i.copiesDone,
    status: i.status,
    position: i.position,
    overrides_json: JSON.stringify(i.overrides),
    printer_ids_json: JSON.stringify(i.printerIds),
    last_error: i.lastError,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
    copies_cancelled: i.copiesCancelled,
    copies_failed: i.copiesFailed,
    ams_mapping_json: i.amsMapping ? JSON.stringify(i.amsMapping) : null,
  };
}

export function toJob(r: JobRow): JobRecord {
  return {
    id: r.id,
    queueItemId: r.queue_item_id,
    printerId: r.printer_id,
    jobId: r.job_id,
    status: r.status as JobStatus,
    error: r.error,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    sentAt: r.sent_at,
    fileId: r.file_id,
    fileName: r.file_name,
    plate: r.plate === null ? null : Number(r.plate),
    printerName: r.printer_name,
    cancelledBy: r.cancelled_by,
    filamentGrams: r.filament_grams === null ? null : Number(r.filament_grams),
    retriedAt: r.retried_at,
    durationSeconds: r.duration_seconds === null ? null : Number(r.duration_seconds),
  };
}

export class QueueRepo {
  constructor(readonly db: Db) {}

  transaction<T>(fn: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async loadItems(): Promise<QueueItemRecord[]> {
    const rows = await this.db.selectFrom('queue_items').selectAll().orderBy('position').execute();
    return rows.map(toItem);
  }

  async loadActiveJobs(): Promise<JobRecord[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('status', 'in', [...ACTIVE_JOB_STATUSES])
      .orderBy('created_at')
      .execute();
    return rows.map(toJob);
  }

  async jobIdExists(tx: Tx, jobId: string): Promise<boolean> {
    const row = await tx.selectFrom('jobs').select('id').where('job_id', '=', jobId).executeTakeFirst();
    return !!row;
  }

  async insertItem(tx: Tx, item: QueueItemRecord): Promise<void> {
    await tx.insertInto('queue_items').values(toItemRow(item)).execute();
  }

  async saveItem(tx: Tx, item: QueueItemRecord): Promise<void> {
    const { id, ...rest } = toItemRow(item);
    await tx.updateTable('queue_items').set(rest).where('id', '=', id).execute();
  }

  async deleteItems(tx: Tx, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    for (let i = 0; i < ids.length; i += 500) {
      await tx
        .deleteFrom('queue_items')
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
    }
  }

  async setPositions(tx: Tx, positions: { id: string; position: number }[]): Promise<void> {
    for (const p of positions) {
      await tx.updateTable('queue_items').set({ position: p.position }).where('id', '=', p.id).execute();
    }
  }

  async insertJob(tx: Tx, job: JobRecord): Promise<void> {
    await tx
      .insertInto('jobs')
      .values({
        id: job.id,
        queue_item_id: job.queueItemId,
        printer_id: job.printerId,
        job_id: job.jobId,
        status: job.status,
        error: job.error,
        created_at: job.createdAt,
        started_at: job.startedAt,
        ended_at: job.endedAt,
        sent_at: job.sentAt ?? null,
        file_id: job.fileId ?? null,
        file_name: job.fileName ?? null,
        plate: job.plate ?? null,
        printer_name: job.printerName ?? null,
        cancelled_by: job.cancelledBy ?? null,
        filament_grams: job.filamentGrams ?? null,
        retried_at: job.retriedAt ?? null,
        duration_seconds: null,
      })
      .execute();
  }

  /** Records that the start command is about to go out; committed before it is sent. */
  async markSent(id: string, at: string): Promise<void> {
    await this.db.updateTable('jobs').set({ sent_at: at }).where('id', '=', id).execute();
  }

  /**
   * Moves a job to `to` only if it is still in one of `from`. Returns false when another path
   * already moved it: the caller must then do nothing (this is what makes every transition once-only).
   */
  async transitionJob(
    tx: Tx,
    id: string,
    from: readonly JobStatus[],
    to: JobStatus,
    fields: {
      error?: string | null;
      startedAt?: string;
      endedAt?: string;
      cancelledBy?: string | null;
      filamentGrams?: number | null;
      durationSeconds?: number | null;
    } = {},
  ): Promise<boolean> {
    const res = await tx
      .updateTable('jobs')
      .set({
        status: to,
        ...(fields.error !== undefined ? { error: fields.error } : {}),
        ...(fields.startedAt !== undefined ? { started_at: fields.startedAt } : {}),
        ...(fields.endedAt !== undefined ? { ended_at: fields.endedAt } : {}),
        ...(fields.cancelledBy !== undefined ? { cancelled_by: fields.cancelledBy } : {}),
        ...(fields.filamentGrams !== undefined ? { filament_grams: fields.filamentGrams } : {}),
        ...(fields.durationSeconds !== undefined ? { duration_seconds: fields.durationSeconds } : {}),
      })
      .where('id', '=', id)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toJob(row) : undefined;
  }

  /** Marks an ended job as put back into the queue; false when it already was (once only). */
  async markRetried(tx: Tx, id: string, at: string): Promise<boolean> {
    const res = await tx
      .updateTable('jobs')
      .set({ retried_at: at })
      .where('id', '=', id)
      .where('retried_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async getKv(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('kv').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async getKvPrefix(prefix: string): Promise<{ key: string; value: string }[]> {
    return this.db.selectFrom('kv').selectAll().where('key', 'like', `${prefix}%`).execute();
  }

  async setKv(tx: Tx, key: string, value: string | null): Promise<void> {
    if (value === null) {
      await tx.deleteFrom('kv').where('key', '=', key).execute();
      return;
    }
    await tx
      .insertInto('kv')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }
}
