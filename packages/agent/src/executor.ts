/**
 * Runs the server's commands on the local printers, each dispatch id at most once (command-record),
 * one at a time per printer, and never a command that arrives after its expiry. A start job fetches
 * its file first (file-cache) and checks the printer is really ready before anything goes out. An
 * e-stop bypasses the line: it runs at once, aborts a start in progress and drops what was queued
 * for that printer before it.
 */
import type { CommandMessage, EstopMessage, WireError } from '@rwc/server/agents/protocol.ts';
import { ProtocolError, parseStartJobArgs } from '@rwc/server/agents/protocol.ts';
import { DriverError, StartNotConfirmedError } from '@rwc/server/printers/driver.ts';
import type { Logger } from '@rwc/server/util/logger.ts';
import type { CommandRecord } from './command-record.ts';
import { emergencyStop } from './estop.ts';
import type { FileCache } from './file-cache.ts';
import type { LocalPrinters } from './local-printers.ts';

export interface ExecutorDeps {
  printers: LocalPrinters;
  record: CommandRecord;
  files: FileCache;
  logger: Logger;
  /** The server's clock as far as the agent knows it (null before the first welcome). */
  serverNow(): number | null;
  ack(commandId: string, status: 'accepted' | 'duplicate' | 'expired' | 'rejected', extra?: { result?: { ok: boolean; error: WireError | null } | null; error?: WireError | null }): void;
  progress(commandId: string, receivedBytes: number, totalBytes: number): void;
  /** Journals the result (it reaches the server even across link drops). */
  result(commandId: string, ok: boolean, error: WireError | null): void;
}

interface Lane {
  chain: Promise<void>;
  /** Bumped by every e-stop: commands queued under an older epoch are dropped. */
  epoch: number;
  abort: AbortController;
  /** Ends the wait for the running command (an e-stop took over). */
  interrupt: ((err: Error) => void) | null;
  /** createdAt (server clock) of the latest e-stop of this printer. */
  estopAt: number;
}

const READY = new Set(['idle', 'finished']);

export class CommandExecutor {
  #d: ExecutorDeps;
  #lanes = new Map<string, Lane>();
  #running = new Set<string>();
  /** What ran, in order (for tests and the log). */
  readonly log: Array<{ id: string; kind: string; printerId: string | null; ok: boolean; at: number }> = [];

  constructor(deps: ExecutorDeps) {
    this.#d = deps;
  }

  #lane(printerId: string): Lane {
    let l = this.#lanes.get(printerId);
    if (!l) this.#lanes.set(printerId, (l = { chain: Promise.resolve(), epoch: 0, abort: new AbortController(), interrupt: null, estopAt: 0 }));
    return l;
  }

  /** Answers a repeat from the record; true when `id` was seen before. */
  #answerRepeat(id: string): boolean {
    const prev = this.#d.record.get(id);
    if (!prev) return false;
    if (prev.state === 'done') this.#d.ack(id, 'duplicate', { result: { ok: prev.ok === true, error: prev.error ?? null } });
    else this.#d.ack(id, 'duplicate', { result: this.#running.has(id) ? null : { ok: false, error: interruptedError(prev.kind) } });
    return true;
  }

  #expired(expiresAt: number): boolean {
    const now = this.#d.serverNow();
    return now !== null && now > expiresAt;
  }

  onCommand(c: CommandMessage): void {
    if (this.#answerRepeat(c.id)) return;
    if (this.#expired(c.expiresAt)) {
      this.#d.ack(c.id, 'expired');
      return;
    }
    const printer = this.#d.printers.get(c.printerId);
    if (!printer) {
      this.#d.ack(c.id, 'rejected', { error: { code: 'unknown_printer', message: `this agent has no printer "${c.printerId}"` } });
      return;
    }
    const lane = this.#lane(c.printerId);
    if (c.createdAt <= lane.estopAt) {
      // Asked before an e-stop that already ran here: never run it.
      const error = { code: 'emergency_stop', message: `${c.kind} was dropped: an emergency stop came after it` };
      this.#d.record.done(c.id, c.kind, Date.now(), false, error);
      this.#d.ack(c.id, 'rejected', { error });
      return;
    }
    this.#d.record.began(c.id, c.kind, Date.now());
    this.#running.add(c.id);
    this.#d.ack(c.id, 'accepted');
    const epoch = lane.epoch;
    const deadline = Date.now() + c.deadlineSeconds * 1000;
    lane.chain = lane.chain.then(async () => {
      let error: WireError | null = null;
      let timer: NodeJS.Timeout | undefined;
      try {
        if (lane.epoch !== epoch) throw new DriverError('emergency_stop', 'dropped: an emergency stop came after it');
        // The printer's answer, the deadline, or an e-stop: whichever comes first ends the wait.
        await Promise.race([
          this.#run(c, lane, deadline),
          new Promise<never>((_, reject) => {
            lane.interrupt = reject;
            timer = setTimeout(() => reject(new DriverError('command_timeout', `${c.kind} did not end within ${c.deadlineSeconds} s`)), Math.max(0, deadline - Date.now()));
          }),
        ]);
      } catch (err) {
        error = toWireError(err);
      } finally {
        clearTimeout(timer);
        lane.interrupt = null;
      }
      this.#finish(c.id, c.kind, c.printerId, error);
    });
  }

  async #run(c: CommandMessage, lane: Lane, deadline: number): Promise<void> {
    const p = this.#d.printers.get(c.printerId)!;
    const d = p.driver;
    switch (c.kind) {
      case 'startJob': {
        const args = parseStartJobArgs(c.args);
        const signal = AbortSignal.any([lane.abort.signal, AbortSignal.timeout(Math.max(0, deadline - Date.now()))]);
        let localPath: string;
        try {
          localPath = await this.#d.files.ensure(args.sha256, args.fileSize, { signal, onProgress: (r, t) => this.#d.progress(c.id, r, t) });
        } catch (err) {
          if (lane.abort.signal.aborted) throw new DriverError('emergency_stop', 'not started: an emergency stop came first');
          if (signal.aborted) throw new DriverError('start_deadline', `not started: the file did not arrive within ${c.deadlineSeconds} s`);
          throw err;
        }
        if (lane.abort.signal.aborted) throw new DriverError('emergency_stop', 'not started: an emergency stop came first');
        if (Date.now() > deadline) throw new DriverError('start_deadline', `not started within ${c.deadlineSeconds} s`);
        // The server decided on a mirror of this state; check the real one before anything goes out.
        const s = p.state;
        if (!READY.has(s.status) || !s.fullStatus || s.stale || s.error) {
          throw new DriverError('printer_not_ready', `not started: the printer is ${s.stale ? 'stale' : s.status}${s.error ? ` (${s.error.message})` : ''}`);
        }
        await d.startJob({ ...args, localPath });
        return;
      }
      case 'pause':
        return d.pause();
      case 'resume':
        return d.resume();
      case 'cancel':
        return d.cancel();
      case 'clearError':
        return d.clearError?.();
      case 'sendGcode': {
        const lines = c.args.lines;
        if (!Array.isArray(lines) || lines.length > 1000 || !lines.every((l) => typeof l === 'string' && l.length <= 256)) {
          throw new ProtocolError('args.lines must be up to 1000 G-code lines');
        }
        return d.sendGcode(lines as string[]);
      }
    }
  }

  /** E-stop: at once, ahead of everything queued, and it drops what was queued before it. */
  onEstop(e: EstopMessage): void {
    if (this.#answerRepeat(e.id)) return;
    if (this.#expired(e.expiresAt)) {
      this.#d.ack(e.id, 'expired');
      return;
    }
    const targets = e.printerId === null ? this.#d.printers.list() : [this.#d.printers.get(e.printerId)].filter((p) => !!p);
    if (!targets.length) {
      this.#d.ack(e.id, 'rejected', { error: { code: 'unknown_printer', message: `this agent has no printer "${e.printerId}"` } });
      return;
    }
    this.#running.add(e.id);
    this.#d.ack(e.id, 'accepted');
    const lanes = targets.map((p) => this.#lane(p.config.id));
    for (const lane of lanes) {
      lane.epoch++;
      lane.estopAt = Math.max(lane.estopAt, e.createdAt);
      lane.abort.abort();
      lane.abort = new AbortController();
    }
    void Promise.allSettled(targets.map((p) => emergencyStop(p.config.driver, p.driver, p.state))).then((results) => {
      const failed = results.map((r, i) => [r, targets[i]!] as const).filter(([r]) => r.status === 'rejected');
      for (const [r, p] of results.map((r, i) => [r, targets[i]!] as const)) {
        this.#d.logger.warn({ printer: p.config.name, outcome: r.status === 'fulfilled' ? r.value : (r.reason as Error).message }, 'EMERGENCY STOP');
      }
      const error = failed.length
        ? { code: 'estop_failed', message: failed.map(([r, p]) => `${p.config.name}: ${((r as PromiseRejectedResult).reason as Error).message}`).join('; ') }
        : null;
      this.#finish(e.id, 'estop', e.printerId, error);
      // Whatever was running there ended with the stop; its driver call is no longer waited for.
      for (const lane of lanes) lane.interrupt?.(new DriverError('emergency_stop', 'interrupted by an emergency stop'));
    });
  }

  /** Stops recording: what is still running when the agent stops counts as interrupted at the next start. */
  halt(): void {
    this.#halted = true;
  }

  #halted = false;

  #finish(id: string, kind: string, printerId: string | null, error: WireError | null): void {
    if (this.#halted) return;
    this.#running.delete(id);
    this.#d.record.done(id, kind, Date.now(), !error, error);
    this.log.push({ id, kind, printerId, ok: !error, at: Date.now() });
    this.#d.result(id, !error, error);
  }

  /** Resolves when every printer's line is empty (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((l) => l.chain));
  }
}

export function interruptedError(kind: string): WireError {
  return kind === 'startJob'
    ? { code: 'start_not_confirmed', message: 'the agent stopped while starting this job; it is not started again — check the printer' }
    : { code: 'command_interrupted', message: 'the agent stopped while running this command; it is not run again' };
}

function toWireError(err: unknown): WireError {
  if (err instanceof StartNotConfirmedError) return { code: 'start_not_confirmed', message: err.message };
  if (err instanceof DriverError) return { code: err.code, message: err.message };
  if (err instanceof ProtocolError) return { code: 'bad_command', message: err.message };
  return { code: 'agent_error', message: err instanceof Error ? err.message : String(err) };
}
