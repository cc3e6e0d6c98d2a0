/**
 * Scale-out: several server processes on one PostgreSQL share the fleet. Each printer is run by
 * exactly one process, the holder of its lease row (printer_leases), renewed every third of the
 * lease and taken over by another process once it expires. A process registry (cluster_processes)
 * with heartbeats says who is alive (GET /api/v1/cluster). Events, printer states and printer
 * commands travel between processes over PostgreSQL LISTEN/NOTIFY (fanout.ts). With SQLite the
 * one process owns everything and none of this runs.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Transaction } from 'kysely';
import type { Infra } from '../app-context.ts';
import { DriverError } from '../printers/driver.ts';
import type { Fleet } from '../printers/fleet.ts';
import type { ForwardedCommand } from '../printers/remote-driver.ts';
import type { Database } from '../storage/schema.ts';
import type { TimerHandle } from '../util/clock.ts';
import { type ClusterMessage, Fanout } from './fanout.ts';
import { type ProcessRow, isAlive, planClaims } from './lease-plan.ts';

/** GET /api/v1/cluster (docs/api.md, Additions). */
export interface ClusterView {
  processes: { id: string; host: string; startedAt: string; printers: number; alive: boolean }[];
  leaseSeconds: number;
}

/** What the rest of the server does when a printer changes hands. */
export interface OwnershipHooks {
  /** Before the driver starts here (the queue reloads and prepares the reconciliation). */
  beforeAcquire(printerId: string): Promise<void>;
  /** After the lease went elsewhere (the queue forgets the printer's runtime). */
  afterLoss(printerId: string): void;
  /** This process now handles the edge agents' messages (agents/ hub takes over). */
  becameAgentsLeader?(): Promise<void>;
}

/**
 * The lease row that says which process handles edge agents (not a printer: never counted). Agent
 * printers are leased only by that process, so an agent's messages, journal and printers stay in
 * one place.
 */
export const AGENTS_LEASE = '~agents';

/** A dead process's registry row stays visible (alive: false) this long, then goes. */
const FORGET_DEAD_MS = 10 * 60_000;
/** How long a forwarded printer command waits for the owner's answer. */
const RPC_TIMEOUT_MS = 15_000;

export class Cluster {
  /** `<pid>-<random>`: unique, and an operator can tell which OS process it is. */
  readonly processId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  readonly host = os.hostname();
  readonly startedAt: string;
  /** True with PostgreSQL: several processes may share the fleet. */
  readonly shared: boolean;
  readonly leaseMs: number;
  readonly #infra: Infra;
  readonly #fleet: Fleet;
  readonly #owned = new Set<string>();
  readonly #pending = new Map<string, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  #hooks: OwnershipHooks | null = null;
  #fanout: Fanout | null = null;
  #timer: TimerHandle | null = null;
  #ticking: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #ticks = 0;
  #agentsLeader = false;

  constructor(infra: Infra, fleet: Fleet) {
    this.#infra = infra;
    this.#fleet = fleet;
    this.shared = infra.storage.dialect === 'postgres' && !!infra.config.databaseUrl;
    this.leaseMs = infra.config.leaseSeconds * 1000;
    this.startedAt = new Date(infra.clock.now()).toISOString();
    if (this.shared)
      this.#fleet.useOwnership(
        (id) => this.#owned.has(id),
        (id, cmd) => this.forward(id, cmd),
      );
  }

  /** Whether this process handles the edge agents (always, with one process). */
  get isAgentsLeader(): boolean {
    return !this.shared || this.#agentsLeader;
  }

  /** Printers this process runs now. */
  get owned(): ReadonlySet<string> {
    return this.#owned;
  }

  get fanoutStats(): Fanout['stats'] | null {
    return this.#fanout?.stats ?? null;
  }

  /** Registers the process, opens the channel and claims a first share of the printers. */
  async start(hooks: OwnershipHooks): Promise<void> {
    if (!this.shared) return;
    this.#hooks = hooks;
    const { storage, bus, logger, config, clock } = this.#infra;
    await storage.db
      .insertInto('cluster_processes')
      .values({ id: this.processId, host: this.host, started_at: this.startedAt, heartbeat_at: clock.now() })
      .execute();
    this.#fanout = new Fanout({
      url: config.databaseUrl!,
      db: storage.db,
      bus,
      logger: logger.child({ part: 'cluster' }),
      processId: this.processId,
      now: () => clock.now(),
      onMessage: (msg) => this.#onMessage(msg),
    });
    await this.#fanout.start();
    // A printer added or removed anywhere: decide at once rather than at the next tick.
    bus.on('printer.added', this, () => this.tick(), 'all');
    bus.on('printer.removed', this, ({ printerId }) => void this.#dropLease(printerId), 'all');
    await this.tick();
    this.#timer = clock.setInterval(() => void this.tick(), Math.max(200, Math.floor(this.leaseMs / 3)));
  }

  /** One round: heartbeat, renew, notice lost leases, claim free printers. Rounds never overlap. */
  tick(): Promise<void> {
    if (this.#ticking) {
      this.#again = true;
      return this.#ticking;
    }
    this.#ticking = (async () => {
      do {
        this.#again = false;
        await this.#round().catch((err) =>
          this.#infra.logger.warn({ err: (err as Error).message }, 'cluster lease round failed'),
        );
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  async #round(): Promise<void> {
    if (this.#stopped) return;
    const { db } = this.#infra.storage;
    const now = this.#infra.clock.now();
    await db.updateTable('cluster_processes').set({ heartbeat_at: now }).where('id', '=', this.processId).execute();
    const renewed = await db
      .updateTable('printer_leases')
      .set({ expires_at: now + this.leaseMs })
      .where('process_id', '=', this.processId)
      .returning('printer_id')
      .execute();
    const still = new Set(renewed.map((r) => r.printer_id));
    for (const id of [...this.#owned]) {
      if (still.has(id)) continue;
      // Another process holds it now (this one was too slow to renew): stop driving it at once.
      this.#infra.logger.warn({ printerId: id }, 'lost the lease of a printer to another server process');
      this.#owned.delete(id);
      this.#hooks?.afterLoss(id);
      await this.#fleet.release(id);
    }
    if (this.#agentsLeader && !still.has(AGENTS_LEASE)) {
      this.#infra.logger.warn('lost the agents lease to another server process');
      this.#agentsLeader = false;
    }
    if (!this.#agentsLeader && (await this.#claim(AGENTS_LEASE, now))) {
      this.#agentsLeader = true;
      this.#infra.logger.info('this process now handles the edge agents');
      await this.#hooks?.becameAgentsLeader?.();
    }
    const [printers, leases, processes] = await Promise.all([
      db.selectFrom('printers').select(['id', 'driver']).execute(),
      db.selectFrom('printer_leases').select(['printer_id', 'process_id', 'expires_at']).execute(),
      this.#processes(),
    ]);
    const agentPrinters = new Set(printers.filter((p) => p.driver === 'agent').map((p) => p.id));
    if (!this.#agentsLeader) {
      // Agent printers belong with the agents lease: one held here from before goes back.
      for (const id of [...this.#owned].filter((x) => agentPrinters.has(x))) await this.#letGo(id);
    }
    const rows = leases.map((l) => ({
      printerId: l.printer_id,
      processId: l.process_id,
      expiresAt: Number(l.expires_at),
    }));
    const claims = planClaims({
      self: this.processId,
      now,
      leaseMs: this.leaseMs,
      printerIds: printers.filter((p) => !agentPrinters.has(p.id)).map((p) => p.id),
      leases: rows.filter((l) => !agentPrinters.has(l.printerId) && l.printerId !== AGENTS_LEASE),
      processes,
    });
    if (this.#agentsLeader) {
      // Agent printers all go to the process that handles agents, whatever the share.
      const held = new Map(rows.map((l) => [l.printerId, l]));
      for (const id of agentPrinters) {
        const l = held.get(id);
        if (!l || (l.expiresAt <= now && l.processId !== this.processId)) claims.push(id);
      }
    }
    for (const printerId of claims) {
      if (this.#stopped) return;
      if (await this.#claim(printerId, now)) await this.#acquire(printerId);
    }
    if (++this.#ticks % 30 === 0) {
      await db
        .deleteFrom('cluster_processes')
        .where('heartbeat_at', '<', now - FORGET_DEAD_MS)
        .execute();
      await this.#fanout?.prune(60_000);
    }
  }

  /** One conditional write: inserts the lease, or takes it over only if it has expired. */
  async #claim(printerId: string, now: number): Promise<boolean> {
    const won = await this.#infra.storage.db
      .insertInto('printer_leases')
      .values({ printer_id: printerId, process_id: this.processId, host: this.host, expires_at: now + this.leaseMs })
      .onConflict((oc) =>
        oc
          .column('printer_id')
          .doUpdateSet({ process_id: this.processId, host: this.host, expires_at: now + this.leaseMs })
          .where('printer_leases.expires_at', '<=', now),
      )
      .returning('printer_id')
      .executeTakeFirst();
    return !!won;
  }

  async #acquire(printerId: string): Promise<void> {
    this.#infra.logger.info({ printerId }, 'took the lease of a printer');
    // The queue first (reload, reconciliation ready), then the driver: its first report must find
    // the printer's jobs waiting to be reconciled, and no round may see the old owner's last state.
    await this.#hooks?.beforeAcquire(printerId);
    if (this.#stopped) return;
    await this.#fleet.acquire(printerId, () => this.#owned.add(printerId));
  }

  async #letGo(printerId: string): Promise<void> {
    this.#owned.delete(printerId);
    this.#hooks?.afterLoss(printerId);
    await this.#fleet.release(printerId);
    await this.#infra.storage.db
      .deleteFrom('printer_leases')
      .where('printer_id', '=', printerId)
      .where('process_id', '=', this.processId)
      .execute();
  }

  async #dropLease(printerId: string): Promise<void> {
    this.#owned.delete(printerId);
    await this.#infra.storage.db
      .deleteFrom('printer_leases')
      .where('printer_id', '=', printerId)
      .execute()
      .catch(() => {});
  }

  async #processes(): Promise<ProcessRow[]> {
    const rows = await this.#infra.storage.db
      .selectFrom('cluster_processes')
      .selectAll()
      .orderBy('started_at')
      .execute();
    return rows.map((r) => ({ id: r.id, host: r.host, startedAt: r.started_at, heartbeatAt: Number(r.heartbeat_at) }));
  }

  /**
   * The dispatch fence (queue dispatcher.ts, inside its transaction): the item row is locked with
   * SKIP LOCKED — a process that finds it locked leaves it to the one dispatching it — and this
   * process must still hold an unexpired lease on the printer.
   */
  async claimDispatch(tx: Transaction<Database>, itemId: string, printerId: string): Promise<boolean> {
    const item = await tx
      .selectFrom('queue_items')
      .select('id')
      .where('id', '=', itemId)
      .forUpdate()
      .skipLocked()
      .executeTakeFirst();
    if (!item) return false;
    const lease = await tx
      .selectFrom('printer_leases')
      .select('printer_id')
      .where('printer_id', '=', printerId)
      .where('process_id', '=', this.processId)
      .where('expires_at', '>', this.#infra.clock.now())
      .executeTakeFirst();
    return !!lease;
  }

  async view(): Promise<ClusterView> {
    const leaseSeconds = this.leaseMs / 1000;
    if (!this.shared) {
      return {
        processes: [
          {
            id: this.processId,
            host: this.host,
            startedAt: this.startedAt,
            printers: this.#fleet.list().length,
            alive: true,
          },
        ],
        leaseSeconds,
      };
    }
    const now = this.#infra.clock.now();
    const [processes, counts] = await Promise.all([
      this.#processes(),
      this.#infra.storage.db
        .selectFrom('printer_leases')
        .select(['process_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('expires_at', '>', now)
        .where('printer_id', '!=', AGENTS_LEASE)
        .groupBy('process_id')
        .execute(),
    ]);
    const byProcess = new Map(counts.map((c) => [c.process_id, Number(c.n)]));
    return {
      processes: processes.map((p) => ({
        id: p.id,
        host: p.host,
        startedAt: p.startedAt,
        printers: byProcess.get(p.id) ?? 0,
        alive: p.id === this.processId ? !this.#stopped : isAlive(p, now, this.leaseMs),
      })),
      leaseSeconds,
    };
  }

  /** A printer command for a printer another process runs: sent to its lease holder, answer awaited. */
  async forward(printerId: string, command: ForwardedCommand): Promise<unknown> {
    const lease = await this.#infra.storage.db
      .selectFrom('printer_leases')
      .select('process_id')
      .where('printer_id', '=', printerId)
      .where('expires_at', '>', this.#infra.clock.now())
      .executeTakeFirst();
    if (!lease)
      throw new DriverError(
        'printer_unreachable',
        'no server process runs this printer right now; try again in a few seconds',
      );
    if (lease.process_id === this.processId) return this.#fleet.runForwarded(printerId, command);
    const id = randomUUID();
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new DriverError('printer_unreachable', 'the server process that runs this printer did not answer'));
      }, RPC_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
    });
    await this.#fanout?.send({ o: this.processId, rpc: { id, to: lease.process_id, printerId, command } });
    return answer;
  }

  #onMessage(msg: ClusterMessage): void {
    if ('sync' in msg) this.#fleet.republishStates();
    else if ('rpc' in msg && msg.rpc.to === this.processId) {
      const { id, printerId, command } = msg.rpc;
      this.#fleet.runForwarded(printerId, command as ForwardedCommand).then(
        (result) =>
          this.#fanout?.send({ o: this.processId, reply: { id, to: msg.o, ok: true, result: result ?? null } }),
        (err: Error & { code?: string }) =>
          this.#fanout?.send({
            o: this.processId,
            reply: { id, to: msg.o, ok: false, error: { code: err.code ?? 'command_failed', message: err.message } },
          }),
      );
    } else if ('reply' in msg && msg.reply.to === this.processId) {
      const p = this.#pending.get(msg.reply.id);
      if (!p) return;
      this.#pending.delete(msg.reply.id);
      clearTimeout(p.timer);
      if (msg.reply.ok) p.resolve(msg.reply.result);
      else
        p.reject(
          new DriverError(msg.reply.error?.code ?? 'command_failed', msg.reply.error?.message ?? 'the command failed'),
        );
    }
  }

  /** Stops claiming (first step of a clean shutdown; the drivers stop next). */
  pause(): void {
    this.#stopped = true;
    this.#infra.clock.clearInterval(this.#timer);
    this.#timer = null;
    this.#infra.bus.removeListeners(this);
  }

  /** Last step of a clean shutdown, after the drivers stopped: leases go at once, not at expiry. */
  async stop(): Promise<void> {
    this.pause();
    await this.#ticking;
    if (!this.shared) return;
    const { db } = this.#infra.storage;
    await db
      .deleteFrom('printer_leases')
      .where('process_id', '=', this.processId)
      .execute()
      .catch(() => {});
    await db
      .deleteFrom('cluster_processes')
      .where('id', '=', this.processId)
      .execute()
      .catch(() => {});
    this.#owned.clear();
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    await this.#fanout?.stop();
  }
}
