/**
 * The edge agent: local printers with their full state machines, an on-disk event journal, a
 * persistent record of executed commands, a file cache, and the MQTT link to the server. It keeps
 * printing while the link is down, finishes what it was told, and never starts a job on its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION, ProtocolError, type DownName, type HelloMessage, type WireError, isSeq, parseCommand, parseEstop } from '@rwc/server/agents/protocol.ts';
import { shiftTimes } from '@rwc/server/agents/wire-state.ts';
import type { AgentEvent } from '@rwc/server/agents/protocol.ts';
import { registerBuiltinDrivers } from '@rwc/server/printers/builtin-drivers.ts';
import { CapabilityRegistry } from '@rwc/server/registry/capabilities.ts';
import { systemClock } from '@rwc/server/util/clock.ts';
import { type Logger, createLogger } from '@rwc/server/util/logger.ts';
import { CommandRecord } from './command-record.ts';
import { CommandExecutor, interruptedError } from './executor.ts';
import { FileCache } from './file-cache.ts';
import { resolveAgentId } from './identity.ts';
import { EventJournal } from './journal.ts';
import { ServerLink } from './link.ts';
import { type AgentPrinterConfig, LocalPrinters } from './local-printers.ts';
import { StateReporter } from './reporter.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const agentVersion: string = JSON.parse(fs.readFileSync(path.join(here, '../package.json'), 'utf8')).version;

export interface EdgeAgentOptions {
  /** The broker: mqtt://host:1884 (the server's embedded one) or mqtts://…. */
  server: string;
  /** The server's HTTP base URL (files, identity); default http://<broker host>:8080. */
  http?: string;
  /** The agent's API key (POST /api/v1/agents). */
  key: string;
  /** The agent id (= its key's id); asked from the server once and remembered when not given. */
  agentId?: string;
  dataDir: string;
  printers: AgentPrinterConfig[];
  /** Printer drivers; default the server's built-in ones. */
  registry?: CapabilityRegistry;
  caFile?: string | null;
  insecure?: boolean;
  logger?: Logger;
  /** Telemetry batch period, ms (default 1000). */
  telemetryMs?: number;
  /** A complete state is sent this often even without a reconnect, ms (default 60000). */
  fullEveryMs?: number;
  staleAfterSeconds?: number;
  cacheMaxBytes?: number;
  /** fsync the journal and the command record (default true; benchmarks may turn it off). */
  sync?: boolean;
}

/** Default HTTP URL: the broker's host on the server's default port. */
export function defaultHttpUrl(server: string): string {
  const u = new URL(server);
  return `${u.protocol === 'mqtts:' ? 'https' : 'http'}://${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:8080`;
}

export function builtinRegistry(): CapabilityRegistry {
  const r = new CapabilityRegistry();
  registerBuiltinDrivers(r);
  return r;
}

export class EdgeAgent {
  readonly journal: EventJournal;
  readonly record: CommandRecord;
  readonly printers: LocalPrinters;
  readonly files: FileCache;
  readonly executor: CommandExecutor;
  readonly logger: Logger;
  link: ServerLink | null = null;
  agentId: string | null = null;
  #o: EdgeAgentOptions;
  #reporter: StateReporter;
  #offset = 0;
  #offsetKnown = false;
  #welcomed = false;
  #live = false;
  #epoch = 0;
  #next = 1;
  #pumping = false;
  #pumpAgain = false;
  #stopped = false;
  #timers: NodeJS.Timeout[] = [];
  #helloTimer: NodeJS.Timeout | null = null;
  #lastFullAt = 0;
  #heartbeatSeconds = 5;
  #lastHbAt = 0;

  private constructor(o: EdgeAgentOptions) {
    this.#o = o;
    this.logger = o.logger ?? createLogger({ name: 'rwc-agent' });
    fs.mkdirSync(o.dataDir, { recursive: true });
    this.journal = EventJournal.open(path.join(o.dataDir, 'journal'), { sync: o.sync });
    this.record = CommandRecord.open(path.join(o.dataDir, 'commands'), { sync: o.sync });
    this.#reporter = new StateReporter(this.journal);
    // Commands that began in an earlier run and never ended: reported, never run again.
    for (const e of this.record.interrupted()) {
      const error = interruptedError(e.kind);
      this.record.done(e.id, e.kind, Date.now(), false, error);
      this.journal.append({ kind: 'result', commandId: e.id, ok: false, error, at: Date.now() });
    }
    this.files = new FileCache({
      dir: path.join(o.dataDir, 'files'),
      httpUrl: o.http ?? defaultHttpUrl(o.server),
      apiKey: o.key,
      maxBytes: o.cacheMaxBytes ?? 5 * 1024 ** 3,
      logger: this.logger.child({ part: 'files' }),
    });
    this.printers = new LocalPrinters({
      registry: o.registry ?? builtinRegistry(),
      printers: o.printers,
      dataDir: o.dataDir,
      clock: systemClock,
      logger: this.logger,
      staleAfterSeconds: o.staleAfterSeconds ?? 60,
      onState: (id, state) => {
        if (!this.#stopped && this.#reporter.onState(id, state)) void this.#pump();
      },
    });
    this.executor = new CommandExecutor({
      printers: this.printers,
      record: this.record,
      files: this.files,
      logger: this.logger,
      serverNow: () => (this.#offsetKnown ? Date.now() + this.#offset : null),
      ack: (commandId, status, extra = {}) => this.#send('ack', { commandId, status, ...extra }, 1),
      progress: (commandId, receivedBytes, totalBytes) => this.#send('progress', { commandId, receivedBytes, totalBytes }, 0),
      result: (commandId, ok, error) => this.#result(commandId, ok, error),
    });
  }

  /** Starts the printers at once and links to the server as soon as the agent knows its id. */
  static async start(o: EdgeAgentOptions): Promise<EdgeAgent> {
    const agent = new EdgeAgent(o);
    await agent.printers.start();
    agent.#timers.push(setInterval(() => agent.#tick(), o.telemetryMs ?? 1000));
    void agent.#link();
    return agent;
  }

  /** Linked and caught up: the server sees the printers live. */
  get live(): boolean {
    return this.#live;
  }

  get linked(): boolean {
    return this.link?.up === true && this.#welcomed;
  }

  async #link(): Promise<void> {
    const o = this.#o;
    this.agentId = await resolveAgentId({ dataDir: o.dataDir, key: o.key, agentId: o.agentId, http: o.http ?? defaultHttpUrl(o.server), logger: this.logger, stopped: () => this.#stopped });
    if (!this.agentId || this.#stopped) return;
    this.link = new ServerLink({
      url: o.server,
      agentId: this.agentId,
      key: o.key,
      caFile: o.caFile,
      insecure: o.insecure,
      logger: this.logger.child({ part: 'link' }),
      onUp: () => this.#sendHello(),
      onDown: () => {
        this.#welcomed = false;
        this.#live = false;
        this.#epoch++;
      },
      onMessage: (name, msg) => this.#onMessage(name, msg),
    });
    this.link.start();
  }

  #sendHello(): void {
    if (!this.link?.up || this.#stopped) return;
    this.#welcomed = false;
    this.#live = false;
    this.#epoch++;
    const hello: HelloMessage = {
      v: PROTOCOL_VERSION,
      conn: this.link.conn,
      agentVersion,
      hostname: os.hostname(),
      journalId: this.journal.journalId,
      firstSeq: this.journal.firstSeq,
      lastSeq: this.journal.lastSeq,
      now: Date.now(),
      printers: this.printers.infos(),
    };
    this.#send('hello', hello, 1);
    // No welcome (the server is restarting, say): say hello again.
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    this.#helloTimer = setTimeout(() => {
      if (!this.#welcomed) this.#sendHello();
    }, 10_000);
  }

  #onMessage(name: DownName, msg: Record<string, unknown>): void {
    try {
      switch (name) {
        case 'welcome':
          if (msg.conn !== this.link?.conn || typeof msg.serverNow !== 'number' || !isSeq(msg.ackedSeq)) return;
          this.#offset = msg.serverNow - Date.now();
          this.#offsetKnown = true;
          if (typeof msg.heartbeatSeconds === 'number' && msg.heartbeatSeconds >= 1) this.#heartbeatSeconds = msg.heartbeatSeconds;
          this.journal.ack(msg.ackedSeq);
          this.#next = Math.max(msg.ackedSeq + 1, this.journal.firstSeq);
          this.#welcomed = true;
          this.#live = false;
          this.#epoch++;
          this.logger.info({ replay: this.journal.lastSeq - this.#next + 1, offsetMs: this.#offset }, 'welcomed by the server');
          void this.#pump();
          return;
        case 'cmd':
          this.#guard(msg, () => this.executor.onCommand(parseCommand(msg)));
          return;
        case 'estop':
          this.#guard(msg, () => this.executor.onEstop(parseEstop(msg)));
          return;
        case 'evack':
          if (isSeq(msg.seq)) this.journal.ack(msg.seq);
          return;
        case 'resend':
          if (isSeq(msg.fromSeq) && this.#welcomed) {
            this.#next = Math.max(msg.fromSeq, this.journal.firstSeq);
            this.#epoch++;
            void this.#pump();
          }
          return;
        case 'sync':
          this.#sendHello();
          return;
      }
    } catch (err) {
      this.logger.warn({ name, err: (err as Error).message }, 'server message not handled');
    }
  }

  /** A malformed command is answered `rejected` (when it has an id), never half-run. */
  #guard(msg: Record<string, unknown>, run: () => void): void {
    try {
      run();
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      if (typeof msg.id === 'string') this.#send('ack', { commandId: msg.id, status: 'rejected', error: { code: 'bad_command', message: err.message } }, 1);
    }
  }

  #result(commandId: string, ok: boolean, error: WireError | null): void {
    if (this.#stopped) return;
    this.journal.append({ kind: 'result', commandId, ok, error, at: Date.now() });
    void this.#pump();
  }

  #wire(e: AgentEvent): AgentEvent {
    const at = e.at + this.#offset;
    return e.kind === 'state' ? { ...e, at, state: shiftTimes(e.state, this.#offset) } : { ...e, at };
  }

  /** Sends the journal from #next on, in order; then, once caught up after a welcome, a full state. */
  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        const epoch = this.#epoch;
        while (this.#welcomed && epoch === this.#epoch && this.#next <= this.journal.lastSeq) {
          const e = this.journal.get(this.#next);
          if (e) await this.link!.publish('event', this.#wire(e), 1);
          if (epoch === this.#epoch) this.#next++;
        }
        if (this.#welcomed && epoch === this.#epoch && !this.#live && this.#next > this.journal.lastSeq) {
          const full = this.#reporter.telemetry(this.#offset, true);
          if (full) await this.link!.publish('telemetry', full, 1);
          if (epoch === this.#epoch) {
            this.#live = true;
            this.#lastFullAt = Date.now();
          } else this.#pumpAgain = true;
        }
      } while (this.#pumpAgain && this.#welcomed);
    } catch (err) {
      // The link dropped mid-way: the next welcome says where the server is.
      this.logger.debug({ err: (err as Error).message }, 'journal send interrupted');
    } finally {
      this.#pumping = false;
    }
  }

  #tick(): void {
    if (this.#stopped || !this.#welcomed) return;
    const now = Date.now();
    if (this.#live && !this.#pumping) {
      const full = now - this.#lastFullAt > (this.#o.fullEveryMs ?? 60_000);
      const msg = this.#reporter.telemetry(this.#offset, full);
      if (full) this.#lastFullAt = now;
      if (msg) this.#send('telemetry', msg, 0);
    }
    if (now - this.#lastHbAt >= this.#heartbeatSeconds * 1000) {
      this.#lastHbAt = now;
      this.#send('hb', { lastSeq: this.journal.lastSeq, at: now + this.#offset }, 0);
    }
  }

  #send(name: Parameters<ServerLink['publish']>[0], payload: unknown, qos: 0 | 1): void {
    this.link?.publish(name, payload, qos).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.executor.halt();
    for (const t of this.#timers) clearInterval(t);
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    await this.link?.stop();
    await this.printers.stop();
    this.journal.close();
    this.record.close();
  }
}

