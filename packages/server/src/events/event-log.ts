import type { Db } from '../storage/schema.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { DomainEvent, EventBus } from './bus.ts';
import { describeEvent } from './describe.ts';

export interface LoggedEvent {
  id: number;
  type: string;
  printerId: string | null;
  data: unknown;
  at: string;
  /** Stable code, params and English text of what happened (events/describe.ts). */
  code: string;
  message: string;
  params: Record<string, unknown>;
}

/**
 * Persists domain events for GET /api/v1/events. Writes are batched (one transaction per flush) so
 * a busy farm never puts a database write on the report path. Frequent telemetry is not logged;
 * a printer's state is logged only when its status changes.
 */
export class EventLog {
  #pending: DomainEvent[] = [];
  #lastStatus = new Map<string, string>();
  #timer: TimerHandle | null = null;
  #flushing: Promise<void> = Promise.resolve();
  readonly #owner = {};

  constructor(
    private readonly opts: { db: Db; bus: EventBus; clock: Clock; logger: Logger; flushMs?: number; keep?: number },
  ) {}

  start(): void {
    this.opts.bus.onAny(this.#owner, (e) => this.#record(e));
    this.#timer = this.opts.clock.setInterval(() => void this.flush(), this.opts.flushMs ?? 250);
  }

  async stop(): Promise<void> {
    this.opts.bus.removeListeners(this.#owner);
    this.opts.clock.clearInterval(this.#timer);
    await this.flush();
  }

  #record(e: DomainEvent): void {
    // Plugin runs have their own table (plugins/runs.ts); their progress would flood this log.
    if (e.type === 'printer.log' || e.type === 'plugin.run') return;
    // The unread badge's counter: the alert itself is logged, its count changes are not history.
    if (e.type === 'alerts.changed') return;
    // AI checks have their own history (vision_analyses); one every few seconds per printer here would crowd out the rest.
    if (e.type === 'ai.analysis' || e.type === 'ai.settings') return;
    if (e.type === 'printer.state') {
      const d = e.data as DomainEvent<'printer.state'>['data'];
      if (this.#lastStatus.get(d.printerId) === d.state.status) return;
      this.#lastStatus.set(d.printerId, d.state.status);
    }
    this.#pending.push(e);
  }

  /** Writes what is pending; resolves when it is on disk. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (!this.#pending.length) return;
      const batch = this.#pending.splice(0);
      const rows = batch.map((e) => {
        const data = e.data as Record<string, unknown>;
        const printerId =
          typeof data.printerId === 'string'
            ? data.printerId
            : typeof (data.printer as { id?: unknown } | undefined)?.id === 'string'
              ? ((data.printer as { id: string }).id as string)
              : null;
        const stored = e.type === 'printer.state' ? { printerId, status: (data.state as { status: string }).status } : data;
        return { type: e.type, printer_id: printerId, data_json: JSON.stringify(stored), at: e.at };
      });
      try {
        for (let i = 0; i < rows.length; i += 500) {
          await this.opts.db.insertInto('events').values(rows.slice(i, i + 500)).execute();
        }
        await this.#prune();
      } catch (err) {
        this.opts.logger.error({ err }, 'event log write failed');
      }
    });
    return this.#flushing;
  }

  #writes = 0;
  async #prune(): Promise<void> {
    if (++this.#writes % 200 !== 0) return;
    const keep = this.opts.keep ?? 100_000;
    const last = await this.opts.db.selectFrom('events').select('id').orderBy('id', 'desc').offset(keep).limit(1).executeTakeFirst();
    if (last) await this.opts.db.deleteFrom('events').where('id', '<=', last.id).execute();
  }

  async query(q: { printerId?: string; type?: string; limit?: number; before?: number; from?: string; to?: string }): Promise<LoggedEvent[]> {
    await this.flush();
    let query = this.opts.db.selectFrom('events').selectAll().orderBy('id', 'desc').limit(Math.min(q.limit ?? 100, 1000));
    if (q.printerId) query = query.where('printer_id', '=', q.printerId);
    if (q.type) query = query.where('type', '=', q.type);
    if (q.before) query = query.where('id', '<', q.before);
    if (q.from) query = query.where('at', '>=', new Date(q.from).toISOString());
    if (q.to) query = query.where('at', '<', new Date(q.to).toISOString());
    const rows = await query.execute();
    return rows.map((r) => {
      const data = JSON.parse(r.data_json);
      return { id: r.id, type: r.type, printerId: r.printer_id, data, at: r.at, ...describeEvent(r.type, data) };
    });
  }
}
