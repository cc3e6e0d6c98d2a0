/**
 * The agent's persistent record of the commands it ran, by dispatch id: `began` is written (and
 * synced) before a command runs, `done` with its result after. A command id seen again — a QoS 1
 * redelivery, a resend after a reconnect, a restart of the agent — is never run a second time: it
 * is answered from this record. A command that began but never ended (the agent died) is reported
 * as not confirmed, and not run again.
 *
 * Why a bounded record suffices: a command is only begun before its `expiresAt`, so a copy of it
 * arriving later is refused as expired anyway; the record only has to outlive the TTL.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { WireError } from '@rwc/server/agents/protocol.ts';
import { writeAtomic } from './journal.ts';

export interface CommandRecordEntry {
  id: string;
  kind: string;
  state: 'began' | 'done';
  at: number;
  ok?: boolean;
  error?: WireError | null;
}

const KEEP = 5000;

export class CommandRecord {
  #file: string;
  #fd: number;
  #entries = new Map<string, CommandRecordEntry>();
  #interrupted: CommandRecordEntry[] = [];
  #sync: boolean;
  #lines = 0;

  private constructor(dir: string, sync: boolean) {
    fs.mkdirSync(dir, { recursive: true });
    this.#file = path.join(dir, 'commands.jsonl');
    this.#sync = sync;
    if (fs.existsSync(this.#file)) {
      for (const line of fs.readFileSync(this.#file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const e = JSON.parse(line) as CommandRecordEntry;
          if (typeof e.id === 'string' && (e.state === 'began' || e.state === 'done')) {
            this.#entries.delete(e.id);
            this.#entries.set(e.id, e);
          }
        } catch {}
      }
    }
    this.#interrupted = [...this.#entries.values()].filter((e) => e.state === 'began');
    // Keep the newest entries only (Map keeps insertion order; re-set moves an id to the end).
    const all = [...this.#entries.values()];
    if (all.length > KEEP) this.#entries = new Map(all.slice(-KEEP).map((e) => [e.id, e]));
    writeAtomic(this.#file, [...this.#entries.values()].map((e) => `${JSON.stringify(e)}\n`).join(''));
    this.#lines = this.#entries.size;
    this.#fd = fs.openSync(this.#file, 'a');
  }

  static open(dir: string, opts: { sync?: boolean } = {}): CommandRecord {
    return new CommandRecord(dir, opts.sync !== false);
  }

  get(id: string): CommandRecordEntry | undefined {
    return this.#entries.get(id);
  }

  /** Commands that began in an earlier run of the agent and never ended. */
  interrupted(): CommandRecordEntry[] {
    return this.#interrupted;
  }

  began(id: string, kind: string, at: number): void {
    this.#write({ id, kind, state: 'began', at });
  }

  done(id: string, kind: string, at: number, ok: boolean, error: WireError | null): void {
    this.#write({ id, kind, state: 'done', at, ok, error });
  }

  #write(e: CommandRecordEntry): void {
    fs.writeSync(this.#fd, `${JSON.stringify(e)}\n`);
    if (this.#sync) fs.fdatasyncSync(this.#fd);
    this.#entries.delete(e.id);
    this.#entries.set(e.id, e);
    if (++this.#lines > KEEP * 2) this.#compact();
  }

  #compact(): void {
    fs.closeSync(this.#fd);
    const keep = [...this.#entries.values()].slice(-KEEP);
    this.#entries = new Map(keep.map((e) => [e.id, e]));
    writeAtomic(this.#file, keep.map((e) => `${JSON.stringify(e)}\n`).join(''));
    this.#lines = keep.length;
    this.#fd = fs.openSync(this.#file, 'a');
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}
