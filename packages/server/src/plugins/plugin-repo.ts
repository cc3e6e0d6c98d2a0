/**
 * Everything the plugin host keeps in the database: installed plugins, their key-value store, the
 * bus records (messages, events, lifecycle) and runs, with retention. Bus records are written in
 * batches (one insert per flush) so a chatty plugin never puts a database write on a call's path.
 */
import type { Db, PluginRunsTable, PluginsTable } from '../storage/schema.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { RunRecord } from './runs.ts';

export type RecordTopic = 'messages' | 'events' | 'lifecycle';

export interface BusRecordRow {
  id: number;
  pluginId: string;
  topic: RecordTopic;
  type: string;
  data: unknown;
  at: string;
}

export interface RecordQuery {
  pluginId?: string;
  topic: RecordTopic;
  type?: string;
  since?: string;
  /** Records with a smaller id (paging backwards). */
  before?: number;
  limit?: number;
}

export interface Retention {
  /** Bus records kept per plugin and topic. */
  recordsPerTopic: number;
  /** Finished runs older than this are removed. */
  runDays: number;
  /** At most this many runs are kept in all. */
  maxRuns: number;
}

export const defaultRetention: Retention = { recordsPerTopic: 1000, runDays: 30, maxRuns: 20_000 };

export class PluginRepo {
  #pending: Array<{ plugin_id: string; topic: string; type: string; data_json: string; at: string }> = [];
  #flushing: Promise<void> = Promise.resolve();
  #timer: TimerHandle | null = null;

  constructor(
    private readonly o: { db: Db; clock: Clock; logger: Logger; retention: Retention; flushMs?: number },
  ) {}

  start(): void {
    this.#timer = this.o.clock.setInterval(() => void this.flush(), this.o.flushMs ?? 250);
  }

  async stop(): Promise<void> {
    this.o.clock.clearInterval(this.#timer);
    await this.flush();
  }

  #iso(): string {
    return new Date(this.o.clock.now()).toISOString();
  }

  // ---- installed plugins ----

  listPlugins(): Promise<PluginsTable[]> {
    return this.o.db.selectFrom('plugins').selectAll().execute();
  }

  getPlugin(id: string): Promise<PluginsTable | undefined> {
    return this.o.db.selectFrom('plugins').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertPlugin(row: Omit<PluginsTable, 'installed_at' | 'updated_at'>): Promise<PluginsTable> {
    const iso = this.#iso();
    const full = { ...row, installed_at: iso, updated_at: iso };
    // Scale-out: processes starting together on one database may both see a plugin for the first
    // time; the first row wins and both use it.
    await this.o.db.insertInto('plugins').values(full).onConflict((oc) => oc.column('id').doNothing()).execute();
    return (await this.getPlugin(row.id)) ?? full;
  }

  async updatePlugin(id: string, patch: Partial<Pick<PluginsTable, 'enabled' | 'config_json' | 'disabled_reason' | 'dir' | 'source'>>): Promise<void> {
    await this.o.db.updateTable('plugins').set({ ...patch, updated_at: this.#iso() }).where('id', '=', id).execute();
  }

  async deletePlugin(id: string): Promise<void> {
    await this.flush();
    await this.o.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('plugins').where('id', '=', id).execute();
      await tx.deleteFrom('plugin_store').where('plugin_id', '=', id).execute();
      await tx.deleteFrom('plugin_records').where('plugin_id', '=', id).execute();
      await tx.deleteFrom('plugin_runs').where('plugin_id', '=', id).execute();
    });
  }

  // ---- key-value store ----

  async storeGet(pluginId: string, key: string): Promise<unknown> {
    const row = await this.o.db.selectFrom('plugin_store').select('value_json').where('plugin_id', '=', pluginId).where('key', '=', key).executeTakeFirst();
    return row ? JSON.parse(row.value_json) : undefined;
  }

  async storeSet(pluginId: string, key: string, value: unknown): Promise<void> {
    const value_json = JSON.stringify(value ?? null);
    const updated_at = this.#iso();
    await this.o.db
      .insertInto('plugin_store')
      .values({ plugin_id: pluginId, key, value_json, updated_at })
      .onConflict((oc) => oc.columns(['plugin_id', 'key']).doUpdateSet({ value_json, updated_at }))
      .execute();
  }

  async storeDelete(pluginId: string, key: string): Promise<void> {
    await this.o.db.deleteFrom('plugin_store').where('plugin_id', '=', pluginId).where('key', '=', key).execute();
  }

  async storeKeys(pluginId: string): Promise<string[]> {
    const rows = await this.o.db.selectFrom('plugin_store').select('key').where('plugin_id', '=', pluginId).orderBy('key').execute();
    return rows.map((r) => r.key);
  }

  // ---- bus records ----

  /** Queues a record; it is on disk after the next flush. */
  record(pluginId: string, topic: RecordTopic, type: string, data: unknown): void {
    this.#pending.push({ plugin_id: pluginId, topic, type, data_json: JSON.stringify(data ?? null), at: this.#iso() });
  }

  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (!this.#pending.length) return;
      const batch = this.#pending.splice(0);
      try {
        for (let i = 0; i < batch.length; i += 500) await this.o.db.insertInto('plugin_records').values(batch.slice(i, i + 500)).execute();
      } catch (err) {
        this.o.logger.error({ err }, 'plugin record write failed');
      }
    });
    return this.#flushing;
  }

  async queryRecords(q: RecordQuery): Promise<BusRecordRow[]> {
    await this.flush();
    let query = this.o.db
      .selectFrom('plugin_records')
      .selectAll()
      .where('topic', '=', q.topic)
      .orderBy('id', 'desc')
      .limit(Math.max(1, Math.min(q.limit ?? 100, 1000)));
    if (q.pluginId) query = query.where('plugin_id', '=', q.pluginId);
    if (q.type) query = query.where('type', '=', q.type);
    if (q.since) query = query.where('at', '>', q.since);
    if (q.before) query = query.where('id', '<', q.before);
    const rows = await query.execute();
    return rows.map((r) => ({
      id: Number(r.id),
      pluginId: r.plugin_id,
      topic: r.topic as RecordTopic,
      type: r.type,
      data: JSON.parse(r.data_json),
      at: r.at,
    }));
  }

  // ---- runs ----

  /** Inserts or updates runs, all in one transaction. */
  async upsertRuns(runs: RunRecord[]): Promise<void> {
    await this.o.db.transaction().execute(async (tx) => {
      for (const r of runs) {
        const row = toRow(r);
        const { id: _id, ...rest } = row;
        await tx.insertInto('plugin_runs').values(row).onConflict((oc) => oc.column('id').doUpdateSet(rest)).execute();
      }
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = await this.o.db.selectFrom('plugin_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async listRuns(q: { pluginId?: string; status?: string; since?: string; limit?: number }): Promise<RunRecord[]> {
    let query = this.o.db.selectFrom('plugin_runs').selectAll().orderBy('created_at', 'desc').limit(Math.max(1, Math.min(q.limit ?? 50, 1000)));
    if (q.pluginId) query = query.where('plugin_id', '=', q.pluginId);
    if (q.status) query = query.where('status', '=', q.status);
    if (q.since) query = query.where('created_at', '>', q.since);
    return (await query.execute()).map(fromRow);
  }

  /** Runs a previous server left queued or running can never finish: they failed. */
  async failOrphanedRuns(): Promise<number> {
    const r = await this.o.db
      .updateTable('plugin_runs')
      .set({ status: 'failed', error_json: JSON.stringify({ code: 'server_restarted', message: 'the server stopped while this run was going' }), ended_at: this.#iso() })
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(r.numUpdatedRows ?? 0);
  }

  /** Applies retention: old runs, and bus records beyond the per-plugin, per-topic limit. */
  async prune(): Promise<void> {
    await this.flush();
    const { recordsPerTopic, runDays, maxRuns } = this.o.retention;
    const cutoff = new Date(this.o.clock.now() - runDays * 86400_000).toISOString();
    await this.o.db.deleteFrom('plugin_runs').where('created_at', '<', cutoff).where('status', 'not in', ['queued', 'running']).execute();
    const nth = await this.o.db.selectFrom('plugin_runs').select('created_at').orderBy('created_at', 'desc').offset(maxRuns).limit(1).executeTakeFirst();
    if (nth) await this.o.db.deleteFrom('plugin_runs').where('created_at', '<=', nth.created_at).where('status', 'not in', ['queued', 'running']).execute();
    const groups = await this.o.db.selectFrom('plugin_records').select(['plugin_id', 'topic']).distinct().execute();
    for (const g of groups) {
      const edge = await this.o.db
        .selectFrom('plugin_records')
        .select('id')
        .where('plugin_id', '=', g.plugin_id)
        .where('topic', '=', g.topic)
        .orderBy('id', 'desc')
        .offset(recordsPerTopic)
        .limit(1)
        .executeTakeFirst();
      if (edge) {
        await this.o.db.deleteFrom('plugin_records').where('plugin_id', '=', g.plugin_id).where('topic', '=', g.topic).where('id', '<=', edge.id).execute();
      }
    }
  }
}

function toRow(r: RunRecord): PluginRunsTable {
  return {
    id: r.id,
    plugin_id: r.pluginId,
    entry: r.entry,
    trigger: r.trigger,
    status: r.status,
    progress: r.progress,
    stage: r.stage,
    message: r.message,
    metrics_json: JSON.stringify(r.metrics),
    exports_json: JSON.stringify(r.exports),
    result_json: r.result === undefined ? null : JSON.stringify(r.result),
    error_json: r.error ? JSON.stringify(r.error) : null,
    parent_run_id: r.parentRunId,
    created_at: r.createdAt,
    started_at: r.startedAt,
    ended_at: r.endedAt,
  };
}

function fromRow(row: PluginRunsTable): RunRecord {
  return {
    id: row.id,
    pluginId: row.plugin_id,
    entry: row.entry,
    trigger: row.trigger,
    status: row.status as RunRecord['status'],
    progress: row.progress,
    stage: row.stage,
    message: row.message,
    metrics: JSON.parse(row.metrics_json),
    exports: JSON.parse(row.exports_json),
    result: row.result_json === null ? null : JSON.parse(row.result_json),
    error: row.error_json ? JSON.parse(row.error_json) : null,
    parentRunId: row.parent_run_id,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
  };
}
