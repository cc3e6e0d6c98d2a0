import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { initialPrinterState } from '@rwc/server/printers/model.ts';
import { tempDir } from '../../server/test/helpers/server.ts';
import { CommandRecord } from '../src/command-record.ts';
import { EventJournal } from '../src/journal.ts';

const dirs: string[] = [];
const dir = () => {
  const d = tempDir('rwc-journal-');
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const state = (status: 'idle' | 'printing') => ({ ...initialPrinterState(), status });

describe('event journal', () => {
  it('numbers events, keeps them across a reopen, drops what is acknowledged', () => {
    const d = dir();
    const j = EventJournal.open(d);
    for (let i = 0; i < 5; i++) j.append({ kind: 'state', printerId: 'p', at: 1000 + i, state: state(i % 2 ? 'printing' : 'idle') });
    expect([j.firstSeq, j.lastSeq, j.size]).toEqual([1, 5, 5]);
    j.ack(2);
    expect([j.firstSeq, j.size]).toEqual([3, 3]);
    j.close();
    const again = EventJournal.open(d);
    expect(again.journalId).toBe(j.journalId);
    // Acknowledged but not yet compacted events may come back: the server drops them by seq.
    expect(again.lastSeq).toBe(5);
    expect(again.get(5)).toMatchObject({ seq: 5, at: 1004, state: { status: 'idle' } });
    again.close();
  });

  it('never hands out a seq twice, even after compacting everything away and a torn last line', () => {
    const d = dir();
    const j = EventJournal.open(d);
    for (let i = 0; i < 3; i++) j.append({ kind: 'result', commandId: `c${i}`, ok: true, error: null, at: i + 1 });
    j.ack(3);
    expect(j.size).toBe(0);
    j.close();
    fs.appendFileSync(path.join(d, 'events.jsonl'), '{"seq":4,"kind":"res');
    const again = EventJournal.open(d);
    expect(again.lastSeq).toBe(3);
    expect(again.append({ kind: 'result', commandId: 'c3', ok: true, error: null, at: 9 }).seq).toBe(4);
    again.close();
  });
});

describe('command record', () => {
  it('remembers results across a reopen and reports commands a crash left half-run', () => {
    const d = dir();
    const r = CommandRecord.open(d);
    r.began('a', 'pause', 1);
    r.done('a', 'pause', 2, true, null);
    r.began('b', 'startJob', 3);
    r.close();
    const again = CommandRecord.open(d);
    expect(again.get('a')).toMatchObject({ state: 'done', ok: true });
    expect(again.interrupted().map((e) => [e.id, e.kind])).toEqual([['b', 'startJob']]);
    again.close();
  });
});
