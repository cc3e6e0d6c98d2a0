/**
 * The server's end of every agent link: one session per agent (online, caught up or replaying, the
 * last event seq applied), the routing of agent messages to the agent printers' drivers and to the
 * outbox, and the agents' printers in the fleet. Messages of one agent are handled strictly in
 * arrival order; events are applied once each, by seq, and acknowledged so the agent can trim.
 */
import type { EventBus } from '../events/bus.ts';
import { DriverError } from '../printers/driver.ts';
import type { NewPrinter, PrinterPatch } from '../printers/fleet.ts';
import type { FleetPrinter } from '../printers/fleet-types.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { AgentDriver, AgentLinkState, AgentLinks } from './agent-driver.ts';
import type { AgentRecord, AgentsRepo } from './agents-repo.ts';
import type { AgentAccounts } from './dynsec.ts';
import { CommandOutbox, type SubmitOptions } from './outbox.ts';
import {
  type AckMessage,
  type AgentPrinterInfo,
  type DownName,
  type HelloMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type UpName,
  downTopic,
  isSeq,
  parseEvent,
  parseHello,
  parseJsonObject,
  parseTopic,
  parseWireError,
} from './protocol.ts';
import type { AgentTransport } from './transport.ts';

/** What the hub needs from the fleet (the Fleet class). */
export interface FleetAccess {
  list(): FleetPrinter[];
  publicConnection(printerId: string): Record<string, unknown>;
  add(input: NewPrinter): Promise<FleetPrinter>;
  update(printerId: string, patch: PrinterPatch): Promise<FleetPrinter>;
}

export interface AgentHubOptions {
  repo: AgentsRepo;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  /** Undelivered commands fail after this (RWC_AGENT_COMMAND_TTL). */
  commandTtlSeconds: number;
  /** An online agent silent for this long is taken as offline (RWC_STALE_AFTER). */
  staleAfterSeconds: number;
  heartbeatSeconds?: number;
  startDeadlineSeconds?: number;
}

interface Session {
  record: AgentRecord;
  online: boolean;
  live: boolean;
  /** The MQTT connection the last hello came on. */
  conn: string | null;
  lastMessageAt: number;
  offlineSince: number | null;
  printers: Set<string>;
  chain: Promise<void>;
  lastResendAt: number;
  lastSyncAt: number;
}

const RESEND_EVERY_MS = 2000;
const SYNC_EVERY_MS = 5000;

export class AgentHub implements AgentLinks {
  readonly outbox: CommandOutbox;
  readonly startDeadlineSeconds: number;
  readonly #o: AgentHubOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #drivers = new Map<string, Set<AgentDriver>>();
  #transport: AgentTransport | null = null;
  /** Broker-side agent accounts (Mosquitto dynsec); null when the broker asks the server (embedded). */
  #accounts: AgentAccounts | null = null;
  #fleet: FleetAccess | null = null;
  #liveness: TimerHandle | null = null;
  /** Scale-out: whether this process handles agents' messages (one process does; see setActive). */
  #active: () => boolean = () => true;
  /** Agent ids being looked up (made through another process). */
  readonly #unknown = new Set<string>();
  readonly #heartbeatSeconds: number;

  constructor(opts: AgentHubOptions) {
    this.#o = opts;
    // Well inside the stale limit, so a quiet but healthy agent is never taken for a lost one.
    this.#heartbeatSeconds = opts.heartbeatSeconds ?? Math.max(1, Math.min(5, Math.floor(opts.staleAfterSeconds / 3)));
    this.startDeadlineSeconds = opts.startDeadlineSeconds ?? 900;
    this.outbox = new CommandOutbox({
      repo: opts.repo,
      clock: opts.clock,
      logger: opts.logger,
      ttlSeconds: opts.commandTtlSeconds,
      isOnline: (id) => this.#sessions.get(id)?.online === true,
      agentName: (id) => this.#sessions.get(id)?.record.name ?? id,
      publishCommand: (id, msg, estop) => this.#publish(id, estop ? 'estop' : 'cmd', msg, 1),
    });
    opts.bus.on('auth.revoked', this, ({ apiKeyId }) => {
      const s = apiKeyId ? this.#sessions.get(apiKeyId) : undefined;
      if (s && !s.record.revokedAt) void this.markRevoked(s.record.id);
    });
    // Scale-out: revoked through another server process, which did the rest; stop handling it here.
    opts.bus.on(
      'auth.revoked',
      this,
      ({ apiKeyId }) => {
        const s = apiKeyId ? this.#sessions.get(apiKeyId) : undefined;
        if (!s || s.record.revokedAt) return;
        s.record.revokedAt = this.#iso();
        this.#offline(s, 'revoked');
        this.outbox.failAll(s.record.id, `agent "${s.record.name}" was revoked`);
      },
      'remote',
    );
  }

  setFleet(fleet: FleetAccess): void {
    this.#fleet = fleet;
  }

  /**
   * Scale-out: several server processes share the broker, but only one (the holder of the cluster's
   * agents lease, cluster/) handles what agents send — one journal cursor, one printer list per
   * agent. The others keep the link to publish and answer nothing. Call before start().
   */
  setActive(active: () => boolean): void {
    this.#active = active;
  }

  /** Whether this process handles agents' messages (always, with one process). */
  get active(): boolean {
    return this.#active();
  }

  /**
   * Scale-out: on a process that does not handle the agents, the records (printers announced,
   * last seen, applied sequence, revocation) come from the database, where the handling process
   * writes them; call before showing agents.
   */
  async refreshPassive(): Promise<void> {
    if (this.#active()) return;
    for (const r of await this.#o.repo.list()) {
      const s = this.#sessions.get(r.id);
      if (s) s.record = r;
      else this.#addSession(r);
    }
  }

  /** Scale-out: this process just became the one that handles agents: reload them, ask each to say hello. */
  async takeOver(): Promise<void> {
    for (const r of await this.#o.repo.list()) {
      const s = this.#sessions.get(r.id);
      if (s) s.record = r;
      else this.#addSession(r);
    }
    for (const s of this.#sessions.values()) {
      s.online = false;
      s.live = false;
      this.#requestSync(s, true);
    }
  }

  /** Loads the agents, then listens on the transport; agents already connected are asked to say hello. */
  async start(transport: AgentTransport, accounts: AgentAccounts | null = null): Promise<void> {
    this.#accounts = accounts;
    for (const r of await this.#o.repo.list()) this.#addSession(r);
    const expired = await this.#o.repo.expireOpenCommands(this.#iso());
    if (expired) this.#o.logger.info({ expired }, 'agent commands left open by the previous run will not be delivered');
    this.#transport = transport;
    await transport.start(
      (topic, payload) => this.#onMessage(topic, payload),
      () => {
        for (const s of this.#sessions.values()) this.#requestSync(s, true);
      },
    );
    for (const s of this.#sessions.values()) this.#requestSync(s, true);
    this.#liveness = this.#o.clock.setInterval(() => this.#checkLiveness(), 1000);
  }

  async stop(): Promise<void> {
    this.#o.bus.removeListeners(this);
    this.#o.clock.clearInterval(this.#liveness);
    this.outbox.abandonAll();
    const t = this.#transport;
    this.#transport = null;
    await t?.stop();
    await this.#accounts?.close();
  }

  #addSession(record: AgentRecord): Session {
    const s: Session = {
      record,
      online: false,
      live: false,
      conn: null,
      lastMessageAt: 0,
      offlineSince: null,
      printers: new Set((record.info.printers ?? []).map((p) => p.id)),
      chain: Promise.resolve(),
      lastResendAt: 0,
      lastSyncAt: 0,
    };
    this.#sessions.set(record.id, s);
    return s;
  }

  /** A new agent (its API key is made by the caller); the broker learns its account when it keeps them. */
  async registerAgent(record: AgentRecord, key: string): Promise<void> {
    await this.#accounts?.add(record.id, key);
    this.#addSession(record);
  }

  sessions(): Array<{ record: AgentRecord; online: boolean; live: boolean }> {
    return [...this.#sessions.values()].map((s) => ({ record: s.record, online: s.online, live: s.live }));
  }

  agent(id: string): { record: AgentRecord; online: boolean; live: boolean } | null {
    const s = this.#sessions.get(id);
    return s ? { record: s.record, online: s.online, live: s.live } : null;
  }

  /** The agent's key is gone: it is offline for good, its open commands fail, its printers say so. */
  async markRevoked(id: string): Promise<void> {
    const s = this.#sessions.get(id);
    if (!s || s.record.revokedAt) return;
    s.record.revokedAt = this.#iso();
    this.#offline(s, 'revoked');
    await this.#o.repo.markRevoked(id, s.record.revokedAt);
    // A broker that keeps its own accounts drops the agent's connection when its account goes.
    await this.#accounts?.remove(id).catch((err) => this.#o.logger.error({ err, agent: s.record.name }, 'cannot remove the agent from the broker; remove it by hand'));
    this.outbox.failAll(id, `agent "${s.record.name}" was revoked`);
  }

  // ---- AgentLinks (for the drivers) ----

  attach(d: AgentDriver): void {
    const key = `${d.agentId}/${d.agentPrinterId}`;
    let set = this.#drivers.get(key);
    if (!set) this.#drivers.set(key, (set = new Set()));
    set.add(d);
  }

  detach(d: AgentDriver): void {
    this.#drivers.get(`${d.agentId}/${d.agentPrinterId}`)?.delete(d);
  }

  link(agentId: string, printerId: string): AgentLinkState {
    const s = this.#sessions.get(agentId);
    if (!s) return { known: false, name: agentId, revoked: false, online: false, live: false, hasPrinter: false, offlineSince: null };
    return {
      known: true,
      name: s.record.name,
      revoked: !!s.record.revokedAt,
      online: s.online,
      live: s.live,
      hasPrinter: s.printers.has(printerId),
      offlineSince: s.offlineSince,
    };
  }

  command(opts: SubmitOptions): Promise<void> {
    const s = this.#sessions.get(opts.agentId);
    if (!s) return Promise.reject(new DriverError('unknown_agent', `no agent with id ${opts.agentId}`));
    if (s.record.revokedAt) return Promise.reject(new DriverError('agent_revoked', `agent "${s.record.name}" was revoked`));
    return this.outbox.submit(opts);
  }

  #driversOf(agentId: string, printerId?: string): AgentDriver[] {
    if (printerId !== undefined) return [...(this.#drivers.get(`${agentId}/${printerId}`) ?? [])];
    const out: AgentDriver[] = [];
    for (const [key, set] of this.#drivers) if (key.startsWith(`${agentId}/`)) out.push(...set);
    return out;
  }

  // ---- messages ----

  #iso(ms = this.#o.clock.now()): string {
    return new Date(ms).toISOString();
  }

  async #publish(agentId: string, name: DownName, payload: unknown, qos: 0 | 1): Promise<void> {
    if (!this.#transport) throw new Error('the agent link is not started');
    await this.#transport.publish(downTopic(agentId, name), JSON.stringify(payload), qos);
  }

  #send(agentId: string, name: DownName, payload: unknown, qos: 0 | 1 = 1): void {
    this.#publish(agentId, name, payload, qos).catch((err) => this.#o.logger.debug({ err, agentId, name }, 'agent message not sent'));
  }

  #onMessage(topic: string, payload: Buffer): void {
    if (!this.#active()) return;
    const t = parseTopic(topic);
    if (t?.dir !== 'up') return;
    const s = this.#sessions.get(t.agentId);
    if (!s && !this.#unknown.has(t.agentId)) {
      // Made through another server process: look it up once, then take its messages.
      this.#unknown.add(t.agentId);
      void this.#o.repo.list().then((rows) => {
        const r = rows.find((x) => x.id === t.agentId);
        if (r && !this.#sessions.has(r.id)) this.#requestSync(this.#addSession(r), true);
        this.#unknown.delete(t.agentId);
      });
      return;
    }
    // Unknown or revoked agents are ignored (the embedded broker refuses their keys anyway).
    if (!s || s.record.revokedAt) return;
    let msg: Record<string, unknown>;
    try {
      msg = parseJsonObject(payload);
    } catch (err) {
      this.#o.logger.warn({ agent: s.record.name, topic, err: (err as Error).message }, 'bad agent message ignored');
      return;
    }
    s.chain = s.chain
      .then(() => this.#handle(s, t.name, msg))
      .catch((err) =>
        this.#o.logger.warn({ agent: s.record.name, name: t.name, err: err instanceof ProtocolError ? err.message : err }, 'agent message not handled'),
      );
  }

  async #handle(s: Session, name: UpName, msg: Record<string, unknown>): Promise<void> {
    if (name === 'status') {
      if (msg.online === false && msg.conn === s.conn && s.online) this.#offline(s, 'disconnected');
      return;
    }
    if (name === 'hello') return this.#hello(s, parseHello(msg));
    if (!s.online) {
      // Messages from a connection we have no hello for (we restarted, or marked it offline).
      this.#requestSync(s);
      return;
    }
    s.lastMessageAt = this.#o.clock.now();
    switch (name) {
      case 'event':
        return this.#event(s, msg);
      case 'telemetry':
        return this.#telemetry(s, msg);
      case 'ack':
        if (typeof msg.commandId === 'string' && typeof msg.status === 'string') {
          this.outbox.onAck(s.record.id, {
            commandId: msg.commandId,
            status: msg.status as AckMessage['status'],
            result: msg.result && typeof msg.result === 'object' ? { ok: (msg.result as { ok?: unknown }).ok === true, error: parseWireError((msg.result as { error?: unknown }).error) } : null,
            error: parseWireError(msg.error),
          });
        }
        return;
      case 'progress':
        if (typeof msg.commandId === 'string' && isSeq(msg.receivedBytes) && isSeq(msg.totalBytes)) {
          this.outbox.onProgress(s.record.id, { commandId: msg.commandId, receivedBytes: msg.receivedBytes, totalBytes: msg.totalBytes });
        }
        return;
      case 'hb':
        // The agent has events we never got (a lost publish): ask for them again.
        if (isSeq(msg.lastSeq) && msg.lastSeq > s.record.lastSeq) this.#resend(s);
        return;
    }
  }

  async #hello(s: Session, h: HelloMessage): Promise<void> {
    const now = this.#o.clock.now();
    const r = s.record;
    if (h.journalId !== r.journalId) {
      if (r.journalId) this.#o.logger.warn({ agent: r.name }, 'agent journal was replaced (new data dir?); taking its events from the start');
      r.journalId = h.journalId;
      r.lastSeq = h.firstSeq - 1;
    } else if (h.firstSeq > r.lastSeq + 1) {
      this.#o.logger.warn({ agent: r.name, from: r.lastSeq + 1, to: h.firstSeq - 1 }, 'agent events were lost before the server applied them');
      r.lastSeq = h.firstSeq - 1;
    } else if (h.lastSeq < r.lastSeq) {
      this.#o.logger.warn({ agent: r.name }, 'agent journal is behind the server (restored from a backup?); following it');
      r.lastSeq = h.lastSeq;
    }
    s.conn = h.conn;
    s.online = true;
    s.live = false;
    s.offlineSince = null;
    s.lastMessageAt = now;
    s.printers = new Set(h.printers.map((p) => p.id));
    r.lastSeenAt = this.#iso(now);
    r.info = { hostname: h.hostname, agentVersion: h.agentVersion, printers: h.printers };
    await this.#o.repo.saveHello(r.id, { lastSeenAt: r.lastSeenAt, info: r.info, journalId: r.journalId!, lastSeq: r.lastSeq });
    this.#o.logger.info({ agent: r.name, printers: h.printers.length, skewMs: h.now ? h.now - now : null }, 'agent linked');
    await this.#syncPrinters(s, h.printers);
    this.#send(r.id, 'welcome', {
      v: PROTOCOL_VERSION,
      conn: h.conn,
      serverNow: this.#o.clock.now(),
      ackedSeq: r.lastSeq,
      heartbeatSeconds: this.#heartbeatSeconds,
    });
    for (const d of this.#driversOf(r.id)) d.refresh();
    this.outbox.flush(r.id);
  }

  /** Adds the agent's printers to the fleet the first time they are announced; keeps kinds current. */
  async #syncPrinters(s: Session, printers: AgentPrinterInfo[]): Promise<void> {
    const fleet = this.#fleet;
    if (!fleet) return;
    for (const info of printers) {
      const connection = { agentId: s.record.id, printerId: info.id, kind: info.driver, fileKinds: info.fileKinds.filter((k) => k === 'gcode' || k === '3mf') };
      const existing = fleet.list().find((p) => {
        if (p.summary.driver !== 'agent') return false;
        const c = fleet.publicConnection(p.summary.id);
        return c.agentId === s.record.id && c.printerId === info.id;
      });
      try {
        if (!existing) {
          await fleet.add({ name: info.name, driver: 'agent', model: info.model, connection });
          this.#o.logger.info({ agent: s.record.name, printer: info.name }, 'agent printer added to the fleet');
        } else {
          const c = fleet.publicConnection(existing.summary.id);
          if (c.kind !== connection.kind || JSON.stringify(c.fileKinds ?? []) !== JSON.stringify(connection.fileKinds)) {
            await fleet.update(existing.summary.id, { connection });
          }
        }
      } catch (err) {
        this.#o.logger.error({ err, agent: s.record.name, printer: info.id }, 'cannot add the agent printer to the fleet');
      }
    }
  }

  async #event(s: Session, msg: Record<string, unknown>): Promise<void> {
    const ev = parseEvent(msg);
    const r = s.record;
    if (ev.seq <= r.lastSeq) {
      this.#send(r.id, 'evack', { seq: r.lastSeq }, 0);
      return;
    }
    if (ev.seq > r.lastSeq + 1) return this.#resend(s);
    if (ev.kind === 'state') for (const d of this.#driversOf(r.id, ev.printerId)) d.applyState(ev.state);
    else this.outbox.onResult(r.id, ev.commandId, ev.ok, ev.error);
    r.lastSeq = ev.seq;
    r.lastSeenAt = this.#iso();
    await this.#o.repo.saveProgress(r.id, r.lastSeq, r.lastSeenAt);
    this.#send(r.id, 'evack', { seq: r.lastSeq }, 0);
  }

  async #telemetry(s: Session, msg: Record<string, unknown>): Promise<void> {
    // Telemetry is only current once every event before it is applied.
    if (!isSeq(msg.afterSeq)) return;
    if (msg.afterSeq > s.record.lastSeq) return this.#resend(s);
    if (msg.afterSeq < s.record.lastSeq) return;
    const printers = msg.printers && typeof msg.printers === 'object' ? (msg.printers as Record<string, unknown>) : {};
    const full = msg.full === true;
    const wasLive = s.live;
    if (full) s.live = true;
    const touched = new Set<AgentDriver>();
    for (const [pid, raw] of Object.entries(printers)) {
      if (!raw || typeof raw !== 'object') continue;
      for (const d of this.#driversOf(s.record.id, pid)) {
        d.applyTelemetry(raw as Record<string, unknown>, full);
        touched.add(d);
      }
    }
    if (!wasLive && s.live) {
      for (const d of this.#driversOf(s.record.id)) if (!touched.has(d)) d.refresh();
      this.#o.logger.info({ agent: s.record.name, seq: s.record.lastSeq }, 'agent caught up; its printers are live');
    }
  }

  #resend(s: Session): void {
    const now = this.#o.clock.now();
    if (now - s.lastResendAt < RESEND_EVERY_MS) return;
    s.lastResendAt = now;
    this.#send(s.record.id, 'resend', { fromSeq: s.record.lastSeq + 1 });
  }

  #requestSync(s: Session, force = false): void {
    const now = this.#o.clock.now();
    if (s.record.revokedAt || (!force && now - s.lastSyncAt < SYNC_EVERY_MS)) return;
    s.lastSyncAt = now;
    this.#send(s.record.id, 'sync', {});
  }

  #offline(s: Session, why: string): void {
    if (!s.online && !s.live) return;
    s.online = false;
    s.live = false;
    s.conn = null;
    s.offlineSince = this.#o.clock.now();
    this.#o.logger.info({ agent: s.record.name, why }, 'agent link down');
    for (const d of this.#driversOf(s.record.id)) d.refresh();
  }

  #checkLiveness(): void {
    if (!this.#active()) return;
    const limit = this.#o.staleAfterSeconds * 1000;
    const now = this.#o.clock.now();
    for (const s of this.#sessions.values()) {
      if (s.online && now - s.lastMessageAt > limit) this.#offline(s, `no message for ${this.#o.staleAfterSeconds} s`);
    }
  }
}
