import { describe, expect, it } from 'vitest';
import { type EtaItem, type EtaPrinter, estimateQueue } from '../../src/queue/eta.ts';

const now = Date.UTC(2026, 0, 1);
const fit = { model: 'A1 mini', nozzleDiameter: 0.4 };
const item = (id: string, copies: number, seconds: number, over: Partial<EtaItem> = {}): EtaItem => ({
  id,
  fit,
  printerIds: null,
  estimatedSeconds: seconds,
  waitingCopies: copies,
  active: [],
  ...over,
});
const printer = (id: string, over: Partial<EtaPrinter> = {}): EtaPrinter => ({
  id,
  fit,
  freeAt: now,
  cooldownSeconds: 90,
  ...over,
});

describe('eta', () => {
  it('one printer: copies run back to back with a cooldown between them', () => {
    const r = estimateQueue({ items: [item('a', 3, 600)], printers: [printer('p')] }, now);
    expect(r.remainingSeconds).toBe(1800);
    // 600 + 90 + 600 + 90 + 600
    expect(r.finishAt).toBe(now + 1980_000);
    expect(r.items.get('a')).toEqual({ startAt: now, finishAt: now + 1980_000 });
  });

  it('copies spread over the printers that can take them', () => {
    const r = estimateQueue({ items: [item('a', 4, 600)], printers: [printer('p1'), printer('p2')] }, now);
    expect(r.remainingSeconds).toBe(2400);
    expect(r.finishAt).toBe(now + (600 + 90 + 600) * 1000);
  });

  it('running prints count with what they have left and delay the next item', () => {
    const items = [
      item('run', 0, 600, { active: [{ printerId: 'p', startedAt: now - 100_000, remainingSeconds: 300 }] }),
      item('next', 1, 600),
    ];
    const r = estimateQueue({ items, printers: [printer('p', { freeAt: now + (300 + 90) * 1000 })] }, now);
    expect(r.remainingSeconds).toBe(900);
    expect(r.items.get('run')).toEqual({ startAt: now - 100_000, finishAt: now + 300_000 });
    expect(r.items.get('next')).toEqual({ startAt: now + 390_000, finishAt: now + 990_000 });
    expect(r.finishAt).toBe(now + 990_000);
  });

  it('a printer in cooldown starts later', () => {
    const r = estimateQueue({ items: [item('a', 1, 100)], printers: [printer('p', { freeAt: now + 42_000 })] }, now);
    expect(r.items.get('a')?.startAt).toBe(now + 42_000);
  });

  it('work only goes to printers it fits; an item nobody can take has no estimate', () => {
    const items = [item('x1', 1, 100, { fit: { model: 'X1 Carbon', nozzleDiameter: 0.4 } }), item('a', 1, 100)];
    const r = estimateQueue({ items, printers: [printer('p')] }, now);
    expect(r.items.get('x1')).toEqual({ startAt: null, finishAt: null });
    expect(r.items.get('a')).toEqual({ startAt: now, finishAt: now + 100_000 });
    expect(r.remainingSeconds).toBe(200);
  });

  it('explicit printerIds are honoured', () => {
    const r = estimateQueue(
      { items: [item('a', 2, 100, { printerIds: ['p2'] })], printers: [printer('p1'), printer('p2')] },
      now,
    );
    expect(r.items.get('a')?.finishAt).toBe(now + (100 + 90 + 100) * 1000);
  });

  it('queue order: an earlier item is placed first', () => {
    const r = estimateQueue(
      { items: [item('first', 1, 1000), item('second', 1, 10)], printers: [printer('p', { cooldownSeconds: 0 })] },
      now,
    );
    expect(r.items.get('second')?.startAt).toBe(now + 1_000_000);
  });

  it('nothing left: zero and no finish time', () => {
    const r = estimateQueue({ items: [], printers: [printer('p')] }, now);
    expect(r).toEqual({ remainingSeconds: 0, finishAt: null, items: new Map() });
  });

  it('shared printers between fit groups stay consistent', () => {
    const wildcard = { model: null, nozzleDiameter: null };
    const items = [item('a', 1, 1000), item('w', 1, 1000, { fit: wildcard }), item('b', 1, 1000)];
    const r = estimateQueue(
      { items, printers: [printer('p1', { cooldownSeconds: 0 }), printer('p2', { cooldownSeconds: 0 })] },
      now,
    );
    expect(r.items.get('a')?.startAt).toBe(now);
    expect(r.items.get('w')?.startAt).toBe(now);
    expect(r.items.get('b')?.startAt).toBe(now + 1_000_000);
  });
});
