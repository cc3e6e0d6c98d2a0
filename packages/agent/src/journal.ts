/**
 * The agent's event journal: every event (a significant printer state change, a command result) is
 * appended to a file and synced before it is sent, so a link drop or a crash loses none. Events
 * carry consecutive seq numbers; the server acknowledges the seq it applied and the agent drops
 * what is acknowledged. After a drop everything unacknowledged is replayed, in order.
 *
 * Files (in `dir`): `events.jsonl` (one event per line) and `meta.json` ({journalId, baseSeq}:
 * baseSeq is the last acknowledged seq at the last compaction, so seq numbers never go back).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AgentEvent } from '@rwc/server/agents/protocol.ts';

type DistributiveOmit<T, K extends keyof any> = T extends unknown ? Omit<T, K> : never;
export type NewEvent = DistributiveOmit<AgentEvent, 'seq'>;

interface Meta {
  journalId: string;
  baseSeq: number;
}

/** Rewrite the file once this many acknowledged events sit at its head. */
const COMPACT_AFTER = 200;

export class EventJournal {
  readonly journalId: string;
  #dir: string;
  #entries: AgentEvent[];
  #lastSeq: number;
  #acked: number;
  #fd: number;
  #sync: boolean;

  private constructor(dir: string, meta: Meta, entries: AgentEvent[], sync: boolean) {
    this.#dir = dir;
    this.journalId = meta.journalId;
    this.#entries = entries;
    this.#lastSeq = Math.max(meta.baseSeq, entries.at(-1)?.seq ?? 0);
    this.#acked = meta.baseSeq;
    this.#sync = sync;
    this.#fd = fs.openSync(path.join(dir, 'events.jsonl'), 'a');
  }

  /** Opens (or creates) the journal in `dir`. `sync: false` skips fsync (benchmarks only). */
  static open(dir: string, opts: { sync?: boolean } = {}): EventJournal {
    fs.mkdirSync(dir, { recursive: true });
    const metaFile = path.join(dir, 'meta.json');
    let meta: Meta;
    try {
      meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Meta;
      if (typeof meta.journalId !== 'string' || !Number.isSafeInteger(meta.baseSeq)) throw new Error('bad meta');
    } catch {
      meta = { journalId: crypto.randomUUID(), baseSeq: 0 };
      writeAtomic(metaFile, JSON.stringify(meta));
    }
    const entries: AgentEvent[] = [];
    const file = path.join(dir, 'events.jsonl');
    if (fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const e = JSON.parse(line) as AgentEvent;
          // A crash mid-write leaves a torn last line: skip it; anything out of order is ignored.
          if (Number.isSafeInteger(e.seq) && e.seq > meta.baseSeq && e.seq > (entries.at(-1)?.seq ?? 0)) entries.push(e);
        } catch {}
      }
    }
    return new EventJournal(dir, meta, entries, opts.sync !== false);
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Oldest event still held (lastSeq + 1 when none is). */
  get firstSeq(): number {
    return this.#entries[0]?.seq ?? this.#lastSeq + 1;
  }

  get size(): number {
    return this.#entries.length;
  }

  append(e: NewEvent): AgentEvent {
    const event = { ...e, seq: this.#lastSeq + 1 } as AgentEvent;
    fs.writeSync(this.#fd, `${JSON.stringify(event)}\n`);
    if (this.#sync) fs.fdatasyncSync(this.#fd);
    this.#lastSeq = event.seq;
    this.#entries.push(event);
    return event;
  }

  /** The event with this seq, if still held. */
  get(seq: number): AgentEvent | undefined {
    const i = seq - (this.#entries[0]?.seq ?? 0);
    const e = this.#entries[i];
    return e?.seq === seq ? e : this.#entries.find((x) => x.seq === seq);
  }

  /** The server applied everything up to `seq`: drop it. */
  ack(seq: number): void {
    if (seq <= this.#acked) return;
    this.#acked = Math.min(seq, this.#lastSeq);
    let drop = 0;
    while (drop < this.#entries.length && this.#entries[drop]!.seq <= this.#acked) drop++;
    if (!drop) return;
    this.#entries.splice(0, drop);
    this.#pendingCompaction += drop;
    if (this.#pendingCompaction >= COMPACT_AFTER || this.#entries.length === 0) this.#compact();
  }

  #pendingCompaction = 0;

  #compact(): void {
    // meta first: if we crash before the rewrite, acknowledged events are sent again (the server
    // ignores them by seq); the other order could hand out a seq twice.
    writeAtomic(path.join(this.#dir, 'meta.json'), JSON.stringify({ journalId: this.journalId, baseSeq: this.#acked } satisfies Meta));
    fs.closeSync(this.#fd);
    writeAtomic(path.join(this.#dir, 'events.jsonl'), this.#entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    this.#fd = fs.openSync(path.join(this.#dir, 'events.jsonl'), 'a');
    this.#pendingCompaction = 0;
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

/** Write to a temp file, sync, rename: a reader sees the old or the new content, never half. */
export function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
