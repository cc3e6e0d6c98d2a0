/**
 * The command outbox: every command to an agent gets a dispatch id, a row in agent_commands and a
 * TTL. The server publishes it (QoS 1) when the agent is online — and again after a reconnect until
 * the agent acknowledges it; the agent runs an id at most once. A command the agent never received
 * within the TTL fails with `command_expired` and is never sent afterwards; one that went out but
 * was not confirmed fails with `command_unconfirmed` (it may have run: the caller must not assume
 * either way). Results come back as journaled agent events, so they survive link drops.
 */
import crypto from 'node:crypto';
import { DriverError, ShutdownError } from '../printers/driver.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { AgentsRepo, CommandStatus } from './agents-repo.ts';
import type { AckMessage, CommandKind, CommandMessage, EstopMessage, ProgressMessage, WireError } from './protocol.ts';

/** Never reached the agent within its TTL: it did not and will not run. */
export class CommandExpiredError extends DriverError {
  constructor(message: string) {
    super('command_expired', message);
  }
}

/** Reached (or may have reached) the agent, but no result came back in time: it may have run. */
export class CommandUnconfirmedError extends DriverError {
  constructor(message: string) {
    super('command_unconfirmed', message);
  }
}

export interface SubmitOptions {
  agentId: string;
  /** Agent-side printer id; null only for an e-stop of every printer. */
  printerId: string | null;
  kind: CommandKind | 'estop';
  args: Record<string, unknown>;
  /** How long the agent may take once it began (a start job's download, say). */
  deadlineSeconds: number;
  fileSha256?: string | null;
  /** Awaited once, right before the command first goes out (the queue marks its job as sent). */
  beforeFirstSend?: () => Promise<void>;
  onProgress?: (receivedBytes: number, totalBytes: number) => void;
}

interface OpenCommand extends SubmitOptions {
  id: string;
  status: CommandStatus;
  createdAt: number;
  expiresAt: number;
  sentAt: number | null;
  sending: boolean;
  timer: TimerHandle | null;
  /** Writes of this command's row, in order (the insert first). */
  db: Promise<void>;
  resolve(): void;
  reject(err: Error): void;
}

export interface OutboxDeps {
  repo: AgentsRepo;
  clock: Clock;
  logger: Logger;
  ttlSeconds: number;
  isOnline(agentId: string): boolean;
  agentName(agentId: string): string;
  publishCommand(agentId: string, msg: CommandMessage | EstopMessage, estop: boolean): Promise<void>;
}

/** Margin on top of a command's deadline before the server stops waiting for its result. */
const RESULT_GRACE_MS = 30_000;

export class CommandOutbox {
  readonly #d: OutboxDeps;
  readonly #open = new Map<string, OpenCommand>();

  constructor(deps: OutboxDeps) {
    this.#d = deps;
  }

  #iso(ms = this.#d.clock.now()): string {
    return new Date(ms).toISOString();
  }

  /** Open commands of one agent (for the API and tests). */
  openFor(agentId: string): Array<{ id: string; kind: string; status: CommandStatus; printerId: string | null }> {
    return [...this.#open.values()]
      .filter((c) => c.agentId === agentId)
      .map((c) => ({ id: c.id, kind: c.kind, status: c.status, printerId: c.printerId }));
  }

  /** Resolves when the agent reports success; rejects with a DriverError otherwise. */
  submit(opts: SubmitOptions): Promise<void> {
    const now = this.#d.clock.now();
    return new Promise<void>((resolve, reject) => {
      const cmd: OpenCommand = {
        ...opts,
        id: crypto.randomUUID(),
        status: 'pending',
        createdAt: now,
        expiresAt: now + this.#d.ttlSeconds * 1000,
        sentAt: null,
        sending: false,
        timer: null,
        db: Promise.resolve(),
        resolve,
        reject,
      };
      if (cmd.kind === 'estop') this.#supersede(cmd);
      this.#open.set(cmd.id, cmd);
      cmd.timer = this.#d.clock.setTimeout(() => this.#onTtl(cmd), this.#d.ttlSeconds * 1000);
      cmd.db = this.#d.repo
        .insertCommand({
          id: cmd.id,
          agent_id: cmd.agentId,
          printer_id: cmd.printerId,
          kind: cmd.kind,
          args_json: JSON.stringify(cmd.args),
          file_sha256: cmd.fileSha256 ?? null,
          status: 'pending',
          created_at: this.#iso(now),
          expires_at: this.#iso(cmd.expiresAt),
          sent_at: null,
          accepted_at: null,
          ended_at: null,
          error_code: null,
          error_message: null,
        });
      cmd.db.then(
        () => {
          if (this.#d.isOnline(cmd.agentId)) void this.#send(cmd);
        },
        (err) => this.#finish(cmd, 'failed', new DriverError('command_not_stored', `cannot store the command: ${(err as Error).message}`)),
      );
    });
  }

  /**
   * An e-stop drops what was asked of its printer(s) before it and never went out. (What did go out
   * the agent drops itself: it never runs a command made before an e-stop it has seen.)
   */
  #supersede(estop: OpenCommand): void {
    for (const c of [...this.#open.values()]) {
      if (c.agentId !== estop.agentId || c.status !== 'pending' || c.sentAt !== null || c.kind === 'estop') continue;
      if (estop.printerId !== null && c.printerId !== estop.printerId) continue;
      this.#finish(c, 'failed', new DriverError('emergency_stop', `${c.kind} was dropped: an emergency stop came after it (it was never sent)`));
    }
  }

  /** The agent is (back) online and synced: send what it has not acknowledged, e-stops first. */
  flush(agentId: string): void {
    const waiting = [...this.#open.values()]
      .filter((c) => c.agentId === agentId && (c.status === 'pending' || c.status === 'sent'))
      .sort((a, b) => Number(b.kind === 'estop') - Number(a.kind === 'estop') || a.createdAt - b.createdAt);
    for (const c of waiting) void this.#send(c);
  }

  async #send(cmd: OpenCommand): Promise<void> {
    if (cmd.sending || (cmd.status !== 'pending' && cmd.status !== 'sent')) return;
    cmd.sending = true;
    try {
      await cmd.db;
      if (cmd.sentAt === null && cmd.beforeFirstSend) {
        try {
          await cmd.beforeFirstSend();
        } catch (err) {
          this.#finish(cmd, 'failed', new DriverError('command_not_sent', `not sent: ${(err as Error).message}`));
          return;
        }
      }
      if (!this.#open.has(cmd.id)) return;
      const estop = cmd.kind === 'estop';
      const msg: CommandMessage | EstopMessage = estop
        ? { id: cmd.id, printerId: cmd.printerId, createdAt: cmd.createdAt, expiresAt: cmd.expiresAt }
        : {
            id: cmd.id,
            printerId: cmd.printerId!,
            kind: cmd.kind as CommandKind,
            args: cmd.args,
            createdAt: cmd.createdAt,
            expiresAt: cmd.expiresAt,
            deadlineSeconds: cmd.deadlineSeconds,
          };
      // Marked sent before the publish: from here on, the agent may have it.
      const first = cmd.sentAt === null;
      cmd.sentAt ??= this.#d.clock.now();
      cmd.status = 'sent';
      if (first) this.#persist(cmd, { status: 'sent', sent_at: this.#iso(cmd.sentAt) });
      await this.#d.publishCommand(cmd.agentId, msg, estop);
    } catch (err) {
      // The link dropped under us: the next flush (after the agent's hello) sends it again.
      this.#d.logger.debug({ err, commandId: cmd.id }, 'agent command not published yet');
    } finally {
      cmd.sending = false;
    }
  }

  onAck(agentId: string, ack: AckMessage): void {
    const cmd = this.#open.get(ack.commandId);
    if (!cmd || cmd.agentId !== agentId) return;
    if (ack.status === 'accepted' || (ack.status === 'duplicate' && !ack.result)) {
      if (cmd.status === 'accepted') return;
      cmd.status = 'accepted';
      this.#d.clock.clearTimeout(cmd.timer);
      const waitMs = cmd.deadlineSeconds * 1000 + RESULT_GRACE_MS;
      cmd.timer = this.#d.clock.setTimeout(
        () =>
          this.#finish(
            cmd,
            'failed',
            new CommandUnconfirmedError(
              `agent "${this.#d.agentName(cmd.agentId)}" accepted ${cmd.kind} but reported no result within ${Math.round(waitMs / 1000)} s`,
            ),
          ),
        waitMs,
      );
      this.#persist(cmd, { status: 'accepted', accepted_at: this.#iso() });
    } else if (ack.status === 'duplicate' && ack.result) {
      this.#result(cmd, ack.result.ok, ack.result.error);
    } else if (ack.status === 'expired') {
      this.#finish(cmd, 'expired', new CommandExpiredError(`${cmd.kind} reached agent "${this.#d.agentName(agentId)}" after its TTL; it was not run`));
    } else {
      this.#finish(cmd, 'failed', new DriverError(ack.error?.code ?? 'command_rejected', ack.error?.message ?? `the agent rejected ${cmd.kind}`));
    }
  }

  /** A result event from the agent's journal (applied once, in order). */
  onResult(agentId: string, commandId: string, ok: boolean, error: WireError | null): void {
    const cmd = this.#open.get(commandId);
    if (cmd && cmd.agentId === agentId) {
      this.#result(cmd, ok, error);
      return;
    }
    // A command from before a server restart: record how it ended; nobody waits for it any more.
    this.#d.repo
      .updateCommand(commandId, {
        status: ok ? 'done' : 'failed',
        ended_at: this.#iso(),
        error_code: error?.code ?? null,
        error_message: error?.message ?? null,
      })
      .catch(() => undefined);
  }

  onProgress(agentId: string, p: ProgressMessage): void {
    const cmd = this.#open.get(p.commandId);
    if (cmd && cmd.agentId === agentId) cmd.onProgress?.(p.receivedBytes, p.totalBytes);
  }

  #result(cmd: OpenCommand, ok: boolean, error: WireError | null): void {
    if (ok) this.#finish(cmd, 'done', null);
    else this.#finish(cmd, 'failed', new DriverError(error?.code ?? 'agent_error', error?.message ?? `${cmd.kind} failed on the agent`));
  }

  #onTtl(cmd: OpenCommand): void {
    const name = this.#d.agentName(cmd.agentId);
    if (cmd.status === 'pending') {
      this.#finish(
        cmd,
        'expired',
        new CommandExpiredError(
          `${cmd.kind} was not delivered: agent "${name}" was offline for the whole command TTL (${this.#d.ttlSeconds} s); it was not run and will not be`,
        ),
      );
    } else if (cmd.status === 'sent') {
      this.#finish(
        cmd,
        'failed',
        new CommandUnconfirmedError(`${cmd.kind} went out to agent "${name}" but it did not confirm within ${this.#d.ttlSeconds} s; it may or may not have run`),
      );
    }
  }

  #finish(cmd: OpenCommand, status: CommandStatus, err: DriverError | null): void {
    if (!this.#open.delete(cmd.id)) return;
    this.#d.clock.clearTimeout(cmd.timer);
    this.#persist(cmd, { status, ended_at: this.#iso(), error_code: err?.code ?? null, error_message: err?.message ?? null });
    if (err) cmd.reject(err);
    else cmd.resolve();
  }

  #persist(cmd: OpenCommand, patch: Parameters<AgentsRepo['updateCommand']>[1]): void {
    cmd.db = cmd.db
      .then(() => this.#d.repo.updateCommand(cmd.id, patch))
      .catch((err) => this.#d.logger.warn({ err, commandId: cmd.id }, 'cannot record agent command'));
  }

  /**
   * The server is stopping: every open command ends with ShutdownError, and its row stays open
   * (marked expired at the next start), so the queue treats it exactly as after a crash.
   */
  abandonAll(): void {
    for (const cmd of [...this.#open.values()]) {
      this.#open.delete(cmd.id);
      this.#d.clock.clearTimeout(cmd.timer);
      cmd.reject(new ShutdownError(`the server stopped before ${cmd.kind} ended`));
    }
  }

  /**
   * Fails every open command of an agent (revoked): one that never went out plainly, one that did
   * as unconfirmed, so a start that may have landed is never taken for one that did not.
   */
  failAll(agentId: string | null, why: string): void {
    for (const cmd of [...this.#open.values()]) {
      if (agentId !== null && cmd.agentId !== agentId) continue;
      const err =
        cmd.sentAt === null
          ? new DriverError('command_not_sent', `${cmd.kind} was not sent: ${why}`)
          : new CommandUnconfirmedError(`${cmd.kind} went out but its result will not be known here: ${why}`);
      this.#finish(cmd, 'failed', err);
    }
  }
}
