import { describe, expect, it } from 'vitest';
import { noFlags, type GateInput } from '../../src/queue/gatekeeper.ts';
import { type SchedulerItem, type SchedulerPrinter, schedule } from '../../src/queue/scheduler.ts';
import { FakeClock } from '../../src/util/clock.ts';

const clock = new FakeClock();

function printer(
  id: string,
  over: {
    model?: string | null;
    nozzle?: number | null;
    gate?: Partial<GateInput['state']>;
    flags?: Partial<GateInput['flags']>;
    enabled?: boolean;
  } = {},
): SchedulerPrinter {
  return {
    id,
    fit: {
      model: over.model === undefined ? 'A1 mini' : over.model,
      nozzleDiameter: over.nozzle === undefined ? 0.4 : over.nozzle,
    },
    gate: {
      enabled: over.enabled ?? true,
      state: { status: 'idle', fullStatus: true, stale: false, error: null, lastJob: null, ...over.gate },
      settings: { swapCooldownSeconds: 90, requirePlateClear: false },
      flags: { ...noFlags, ...over.flags },
    },
  };
}

function item(id: string, toStart = 1, over: Partial<SchedulerItem> = {}): SchedulerItem {
  return { id, fit: { model: 'A1 mini', nozzleDiameter: 0.4 }, printerIds: null, toStart, ...over };
}

describe('scheduler', () => {
  it('gives the first waiting item to the first open printer', () => {
    const r = schedule({ running: true, items: [item('a'), item('b')], printers: [printer('p1')] }, clock.now());
    expect(r.assignments).toEqual([{ printerId: 'p1', itemId: 'a' }]);
  });

  it('starts nothing while the queue is paused, but still reports every gate', () => {
    const r = schedule({ running: false, items: [item('a')], printers: [printer('p1')] }, clock.now());
    expect(r.assignments).toEqual([]);
    expect(r.gates.get('p1')).toEqual({ open: true, code: null, reason: null, params: {} });
  });

  it('an item with copies prints on several printers at once', () => {
    const r = schedule(
      {
        running: true,
        items: [item('a', 3), item('b')],
        printers: [printer('p1'), printer('p2'), printer('p3'), printer('p4')],
      },
      clock.now(),
    );
    expect(r.assignments).toEqual([
      { printerId: 'p1', itemId: 'a' },
      { printerId: 'p2', itemId: 'a' },
      { printerId: 'p3', itemId: 'a' },
      { printerId: 'p4', itemId: 'b' },
    ]);
  });

  const closed: [string, SchedulerPrinter][] = [
    ['offline', printer('p', { gate: { status: 'offline' } })],
    ['no full status', printer('p', { gate: { fullStatus: false } })],
    ['stale', printer('p', { gate: { stale: true } })],
    ['printing', printer('p', { gate: { status: 'printing' } })],
    ['error', printer('p', { gate: { error: { code: 'x', message: 'clog' } } })],
    ['cooldown', printer('p', { gate: { lastJob: { jobId: '1', outcome: 'finished', at: clock.now() - 1000 } } })],
    ['in flight', printer('p', { flags: { commandInFlight: true } })],
    ['hold', printer('p', { flags: { holdUntil: clock.now() + 5000 } })],
    ['start not confirmed', printer('p', { flags: { startNotConfirmed: true } })],
    ['disabled', printer('p', { enabled: false })],
  ];
  it.each(closed)('a printer whose gate is closed (%s) gets nothing', (_n, p) => {
    const r = schedule({ running: true, items: [item('a')], printers: [p] }, clock.now());
    expect(r.assignments).toEqual([]);
    expect(r.gates.get('p')?.open).toBe(false);
  });

  it('a file only goes to printers it fits (model and nozzle)', () => {
    const printers = [
      printer('x1', { model: 'X1 Carbon' }),
      printer('a1-06', { nozzle: 0.6 }),
      printer('a1', { model: 'a1-mini' }),
    ];
    const r = schedule({ running: true, items: [item('a', 5)], printers }, clock.now());
    expect(r.assignments).toEqual([{ printerId: 'a1', itemId: 'a' }]);
  });

  it('a later item that fits takes a printer an earlier item cannot use', () => {
    const items = [item('big', 1, { fit: { model: 'X1 Carbon', nozzleDiameter: 0.4 } }), item('small')];
    const r = schedule({ running: true, items, printers: [printer('a1')] }, clock.now());
    expect(r.assignments).toEqual([{ printerId: 'a1', itemId: 'small' }]);
  });

  it('explicit printerIds restrict an item, and still require a fit', () => {
    const items = [item('a', 2, { printerIds: ['p2', 'x1'] }), item('b', 2)];
    const printers = [printer('p1'), printer('p2'), printer('x1', { model: 'X1 Carbon' })];
    const r = schedule({ running: true, items, printers }, clock.now());
    expect(r.assignments).toEqual([
      { printerId: 'p2', itemId: 'a' },
      { printerId: 'p1', itemId: 'b' },
    ]);
  });

  it('items with nothing left to start are skipped', () => {
    const r = schedule({ running: true, items: [item('a', 0), item('b', 1)], printers: [printer('p1')] }, clock.now());
    expect(r.assignments).toEqual([{ printerId: 'p1', itemId: 'b' }]);
  });

  it('a file without model/nozzle fits any printer', () => {
    const r = schedule(
      {
        running: true,
        items: [item('g', 2, { fit: { model: null, nozzleDiameter: null } })],
        printers: [printer('x', { model: 'X1 Carbon' }), printer('m', { model: null, nozzle: null })],
      },
      clock.now(),
    );
    expect(r.assignments.map((a) => a.printerId)).toEqual(['x', 'm']);
  });

  it('never assigns one printer twice in a round (10,000 items x 2,000 printers)', () => {
    const items = Array.from({ length: 10_000 }, (_, i) =>
      item(`i${i}`, 1 + (i % 3), i % 7 === 0 ? { fit: { model: 'P1S', nozzleDiameter: 0.4 } } : {}),
    );
    const printers = Array.from({ length: 2000 }, (_, i) =>
      printer(`p${i}`, i % 4 === 0 ? { model: 'P1S' } : i % 5 === 0 ? { gate: { status: 'printing' } } : {}),
    );
    const r = schedule({ running: true, items, printers }, clock.now());
    const ids = r.assignments.map((a) => a.printerId);
    expect(new Set(ids).size).toBe(ids.length);
    const open = printers.filter((p) => r.gates.get(p.id)?.open).length;
    expect(ids.length).toBe(open);
    const byId = new Map(items.map((i) => [i.id, i]));
    for (const a of r.assignments) {
      const p = printers.find((x) => x.id === a.printerId)!;
      expect(byId.get(a.itemId)!.fit.model === 'P1S').toBe(p.fit.model === 'P1S');
    }
  });
});
