import type { EventBus } from '../events/bus.ts';
import { notFound } from '../errors.ts';
import type { Db } from '../storage/schema.ts';
import type { Logger } from '../util/logger.ts';
import type { AlertEvent, AlertLevel } from './raise.ts';

/** An alert as the API and the WebSocket `alert` event show it (docs/api.md, Additions). */
export interface AlertItem {
  id: string;
  level: AlertLevel;
  code: string;
  message: string;
  params: Record<string, unknown>;
  printerId: string | null;
  at: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

export interface AlertQuery {
  acknowledged?: boolean;
  printerId?: string;
  limit?: number;
  /** An alert id: only alerts older than it (paging). */
  before?: string;
}

/**
 * The WS/`alert` payload for a freshly raised alert: the stored item, not yet acknowledged. A
 * printer's alert always carries `params.printerName` (the texts in both languages use it).
 */
export function alertItemOf(alert: AlertEvent, at: string, nameOf?: (printerId: string) => string | undefined): AlertItem {
  const params = { ...(alert.params ?? {}) };
  if (alert.printerId && params.printerName === undefined) {
    const name = nameOf?.(alert.printerId);
    if (name) params.printerName = name;
  }
  return { ...alert, params, at, acknowledgedAt: null, acknowledgedBy: null };
}

/**
 * Persists every raised alert (bus `alert`) in the `alerts` table and answers the alerts API.
 * Writes go through one promise chain, so a read that follows an alert always sees it. After each
 * change it emits `alerts.changed` with the unacknowledged count, so every open tab updates its
 * unread badge without refetching.
 */
export class AlertStore {
  #chain: Promise<unknown> = Promise.resolve();
  #seq = 0;
  #unacknowledged = 0;
  #writes = 0;
  readonly #owner = {};

  constructor(
    private readonly o: { db: Db; bus: EventBus; logger: Logger; now: () => number; keep?: number; nameOf?: (printerId: string) => string | undefined },
  ) {}

  async start(): Promise<void> {
    const max = await this.o.db.selectFrom('alerts').select((eb) => eb.fn.max('seq').as('m')).executeTakeFirst();
    this.#seq = Number(max?.m ?? 0);
    this.#unacknowledged = await this.#countOpen();
    this.o.bus.on('alert', this.#owner, (alert, event) => this.#record(alertItemOf(alert, event.at, this.o.nameOf)));
  }

  async stop(): Promise<void> {
    this.o.bus.removeListeners(this.#owner);
    await this.#chain.catch(() => {});
  }

  /** Unacknowledged alerts right now (the menu's unread count). */
  get unacknowledged(): number {
    return this.#unacknowledged;
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work, work);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #countOpen(): Promise<number> {
    const row = await this.o.db
      .selectFrom('alerts')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('acknowledged_at', 'is', null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  #record(item: AlertItem): void {
    const seq = ++this.#seq;
    this.#unacknowledged++;
    // After the `alert` event itself has reached every listener (the WebSocket hub listens to all).
    const count = this.#unacknowledged;
    queueMicrotask(() => this.o.bus.emit('alerts.changed', { unacknowledged: count, acknowledged: [] }));
    void this.#enqueue(async () => {
      await this.o.db
        .insertInto('alerts')
        .values({
          id: item.id,
          seq,
          level: item.level,
          code: item.code,
          message: item.message.slice(0, 2000),
          params_json: JSON.stringify(item.params ?? {}),
          printer_id: item.printerId,
          at: item.at,
          acknowledged_at: null,
          acknowledged_by: null,
        })
        .execute();
      await this.#prune();
    }).catch((err) => this.o.logger.error({ err, code: item.code }, 'alert could not be stored'));
  }

  /** Keeps the table bounded: the oldest acknowledged alerts go first, never an open one. */
  async #prune(): Promise<void> {
    if (++this.#writes % 100 !== 0) return;
    const keep = this.o.keep ?? 10_000;
    const cut = await this.o.db.selectFrom('alerts').select('seq').orderBy('seq', 'desc').offset(keep).limit(1).executeTakeFirst();
    if (cut) await this.o.db.deleteFrom('alerts').where('seq', '<=', cut.seq).where('acknowledged_at', 'is not', null).execute();
  }

  /** Newest first; `unacknowledged` counts every open alert, not just this page. */
  async list(q: AlertQuery): Promise<{ items: AlertItem[]; unacknowledged: number }> {
    return this.#enqueue(async () => {
      let query = this.o.db.selectFrom('alerts').selectAll().orderBy('seq', 'desc').orderBy('id', 'desc').limit(Math.min(q.limit ?? 50, 500));
      if (q.acknowledged === false) query = query.where('acknowledged_at', 'is', null);
      if (q.acknowledged === true) query = query.where('acknowledged_at', 'is not', null);
      if (q.printerId) query = query.where('printer_id', '=', q.printerId);
      if (q.before) {
        const ref = await this.o.db.selectFrom('alerts').select('seq').where('id', '=', q.before).executeTakeFirst();
        if (!ref) throw notFound('alert (before)', 'not_found', { what: 'alert' });
        query = query.where('seq', '<', ref.seq);
      }
      const rows = await query.execute();
      return { items: rows.map(rowToItem), unacknowledged: this.#unacknowledged };
    });
  }

  /** Marks one alert acknowledged (idempotent: a second call keeps the first time and person). */
  async acknowledge(id: string, by: string): Promise<AlertItem> {
    return this.#enqueue(async () => {
      const row = await this.o.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw notFound('alert', 'not_found', { what: 'alert' });
      if (row.acknowledged_at) return rowToItem(row);
      const at = new Date(this.o.now()).toISOString();
      await this.o.db
        .updateTable('alerts')
        .set({ acknowledged_at: at, acknowledged_by: by })
        .where('id', '=', id)
        .where('acknowledged_at', 'is', null)
        .execute();
      this.#unacknowledged = await this.#countOpen();
      this.o.bus.emit('alerts.changed', { unacknowledged: this.#unacknowledged, acknowledged: [id] });
      return rowToItem({ ...row, acknowledged_at: at, acknowledged_by: by });
    });
  }

  /** Acknowledges every open alert (of one printer, when given); answers how many. */
  async acknowledgeAll(by: string, printerId?: string): Promise<number> {
    return this.#enqueue(async () => {
      let sel = this.o.db.selectFrom('alerts').select('id').where('acknowledged_at', 'is', null);
      if (printerId) sel = sel.where('printer_id', '=', printerId);
      const ids = (await sel.execute()).map((r) => r.id);
      if (!ids.length) return 0;
      const at = new Date(this.o.now()).toISOString();
      for (let i = 0; i < ids.length; i += 500) {
        await this.o.db
          .updateTable('alerts')
          .set({ acknowledged_at: at, acknowledged_by: by })
          .where('id', 'in', ids.slice(i, i + 500))
          .where('acknowledged_at', 'is', null)
          .execute();
      }
      this.#unacknowledged = await this.#countOpen();
      this.o.bus.emit('alerts.changed', { unacknowledged: this.#unacknowledged, acknowledged: ids });
      return ids.length;
    });
  }
}

function rowToItem(r: {
  id: string;
  level: string;
  code: string;
  message: string;
  params_json: string;
  printer_id: string | null;
  at: string;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
}): AlertItem {
  return {
    id: r.id,
    level: r.level as AlertLevel,
    code: r.code,
    message: r.message,
    params: JSON.parse(r.params_json) as Record<string, unknown>,
    printerId: r.printer_id,
    at: r.at,
    acknowledgedAt: r.acknowledged_at,
    acknowledgedBy: r.acknowledged_by,
  };
}
