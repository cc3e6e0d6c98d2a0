/**
 * Scale-out message channel between server processes: PostgreSQL LISTEN/NOTIFY on one dedicated
 * connection per process. Domain events are batched per tick and published with the sender's
 * process id (`o`), so a process skips its own messages and the bus never echoes them (bus.inject).
 * A NOTIFY payload is at most 8000 bytes: a larger message is stored in `cluster_events` and sent
 * by reference. One connection for both directions keeps a process's messages in order.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { DomainEvent, EventBus } from '../events/bus.ts';
import type { Db } from '../storage/schema.ts';
import type { Logger } from '../util/logger.ts';

export const CHANNEL = 'rwc_cluster';
/** Leaves room under PostgreSQL's 8000-byte NOTIFY limit. */
export const MAX_PAYLOAD_BYTES = 7800;

/** What travels on the channel besides events (requests between processes). */
export type ClusterMessage =
  | { o: string; e: DomainEvent[] }
  | { o: string; sync: true }
  | { o: string; rpc: { id: string; to: string; printerId: string; command: unknown } }
  | {
      o: string;
      reply: { id: string; to: string; ok: boolean; result?: unknown; error?: { code: string; message: string } };
    };

export interface FanoutOptions {
  url: string;
  db: Db;
  bus: EventBus;
  logger: Logger;
  processId: string;
  now: () => number;
  /** A message that is not events (sync, rpc, reply) from another process. */
  onMessage(msg: ClusterMessage): void;
}

/** Packs serialised events into payloads of at most `max` bytes; an event larger than that goes alone. */
export function packEvents(origin: string, events: string[], max = MAX_PAYLOAD_BYTES): string[] {
  const out: string[] = [];
  const head = `{"o":${JSON.stringify(origin)},"e":[`;
  let cur: string[] = [];
  let size = head.length + 2;
  for (const e of events) {
    const len = Buffer.byteLength(e);
    if (cur.length && size + len + 1 > max) {
      out.push(`${head}${cur.join(',')}]}`);
      cur = [];
      size = head.length + 2;
    }
    cur.push(e);
    size += len + 1;
  }
  if (cur.length) out.push(`${head}${cur.join(',')}]}`);
  return out;
}

export class Fanout {
  readonly #o: FanoutOptions;
  #client: pg.Client | null = null;
  #outbox: string[] = [];
  #flushQueued = false;
  #sending: Promise<void> = Promise.resolve();
  #incoming: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Messages published and received (bench figures). */
  readonly stats = { sentPayloads: 0, sentBytes: 0, received: 0, byReference: 0 };

  constructor(opts: FanoutOptions) {
    this.#o = opts;
  }

  async start(): Promise<void> {
    await this.#connect();
    this.#o.bus.onAny(
      this,
      (event) => {
        this.#outbox.push(JSON.stringify(event));
        this.#scheduleFlush();
      },
      'local',
    );
    // Ask the others for the state of their printers: this process has seen none of it yet.
    await this.send({ o: this.#o.processId, sync: true });
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#o.url });
    client.on('notification', (n) => {
      if (n.channel === CHANNEL && n.payload) this.#receive(n.payload);
    });
    client.on('error', (err) => {
      this.#o.logger.warn({ err: err.message }, 'cluster channel lost; reconnecting');
      if (this.#client === client) this.#client = null;
      client.end().catch(() => {});
      if (!this.#stopped) setTimeout(() => void this.#reconnect(), 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.#client = client;
  }

  async #reconnect(): Promise<void> {
    if (this.#stopped || this.#client) return;
    try {
      await this.#connect();
      // Whatever was missed while disconnected: ask for fresh printer states.
      await this.send({ o: this.#o.processId, sync: true });
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'cluster channel still down');
      setTimeout(() => void this.#reconnect(), 2000).unref();
    }
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // One batch per tick: a burst of reports costs one NOTIFY, not one each.
    setImmediate(() => {
      this.#flushQueued = false;
      const events = this.#outbox;
      this.#outbox = [];
      for (const payload of packEvents(this.#o.processId, events)) this.#publish(payload);
    });
  }

  /** Sends a non-event message (in order with the events already queued). */
  send(msg: ClusterMessage): Promise<void> {
    return this.#publish(JSON.stringify(msg));
  }

  #publish(payload: string): Promise<void> {
    const next = this.#sending.then(async () => {
      const client = this.#client;
      if (!client || this.#stopped) return;
      let body = payload;
      if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) {
        const id = randomUUID();
        await this.#o.db.insertInto('cluster_events').values({ id, payload, created_at: this.#o.now() }).execute();
        body = JSON.stringify({ o: this.#o.processId, ref: id });
        this.stats.byReference++;
      }
      await client.query('SELECT pg_notify($1, $2)', [CHANNEL, body]);
      this.stats.sentPayloads++;
      this.stats.sentBytes += Buffer.byteLength(body);
    });
    this.#sending = next.catch((err) =>
      this.#o.logger.warn({ err: (err as Error).message }, 'cluster message not sent'),
    );
    return this.#sending;
  }

  #receive(payload: string): void {
    // Serial, so a message fetched by reference keeps its place in the order.
    this.#incoming = this.#incoming
      .then(async () => {
        let msg = JSON.parse(payload) as ClusterMessage & { ref?: string };
        if (msg.o === this.#o.processId) return;
        this.stats.received++;
        if (msg.ref) {
          const row = await this.#o.db
            .selectFrom('cluster_events')
            .select('payload')
            .where('id', '=', msg.ref)
            .executeTakeFirst();
          if (!row) return;
          msg = JSON.parse(row.payload);
        }
        if ('e' in msg) {
          for (const event of msg.e) this.#o.bus.inject({ ...event, origin: msg.o });
        } else this.#o.onMessage(msg);
      })
      .catch((err) => this.#o.logger.warn({ err: (err as Error).message }, 'bad cluster message'));
  }

  /** Removes stored large messages every process has had time to read. */
  async prune(olderThanMs: number): Promise<void> {
    await this.#o.db
      .deleteFrom('cluster_events')
      .where('created_at', '<', this.#o.now() - olderThanMs)
      .execute();
  }

  async stop(): Promise<void> {
    this.#o.bus.removeListeners(this);
    await this.#sending;
    this.#stopped = true;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }
}
