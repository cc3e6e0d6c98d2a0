/**
 * Pure parts of scale-out: which printers a process claims (lease-plan.ts), how events are packed
 * under PostgreSQL's NOTIFY limit (fanout.ts), and that events from another process reach only the
 * listeners that asked for them (events/bus.ts).
 */
import { describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES, packEvents } from '../../src/cluster/fanout.ts';
import { type LeaseRow, type ProcessRow, planClaims } from '../../src/cluster/lease-plan.ts';
import { EventBus } from '../../src/events/bus.ts';

const LEASE = 3000;
const NOW = 1_000_000;
const proc = (id: string, heartbeatAt = NOW): ProcessRow => ({
  id,
  host: 'h',
  startedAt: '2026-01-01T00:00:00Z',
  heartbeatAt,
});
const lease = (printerId: string, processId: string, expiresAt = NOW + LEASE): LeaseRow => ({
  printerId,
  processId,
  expiresAt,
});
const printers = (n: number) => Array.from({ length: n }, (_, k) => `p${k}`);

describe('lease planning', () => {
  it('claims free printers up to a fair share of the live processes', () => {
    const claims = planClaims({
      self: 'a',
      now: NOW,
      leaseMs: LEASE,
      printerIds: printers(6),
      leases: [],
      processes: [proc('a'), proc('b'), proc('c')],
    });
    expect(claims).toHaveLength(2);
  });

  it('counts the printers it holds against its share and never claims a live lease of another', () => {
    const leases = [lease('p0', 'a'), lease('p1', 'b'), lease('p2', 'b')];
    const claims = planClaims({
      self: 'a',
      now: NOW,
      leaseMs: LEASE,
      printerIds: printers(4),
      leases,
      processes: [proc('a'), proc('b')],
    });
    expect(claims).toEqual(['p3']);
    expect(
      planClaims({
        self: 'a',
        now: NOW,
        leaseMs: LEASE,
        printerIds: printers(3),
        leases,
        processes: [proc('a'), proc('b')],
      }),
    ).toEqual([]);
  });

  it('takes over expired leases of a dead process; a dead process does not count in the share', () => {
    const leases = [lease('p0', 'a'), lease('p1', 'b', NOW - 1), lease('p2', 'b', NOW - 1)];
    const processes = [proc('a'), proc('b', NOW - LEASE - 1)];
    expect(
      planClaims({ self: 'a', now: NOW, leaseMs: LEASE, printerIds: printers(3), leases, processes }).sort(),
    ).toEqual(['p1', 'p2']);
  });

  it('claims a printer left free for more than a lease even past its share: every printer gets an owner', () => {
    // b still looks alive (heartbeat fresh) but its lease lapsed long ago; a is at its share.
    const leases = [lease('p0', 'a'), lease('p1', 'b', NOW - 2 * LEASE)];
    const processes = [proc('a'), proc('b')];
    expect(planClaims({ self: 'a', now: NOW, leaseMs: LEASE, printerIds: printers(2), leases, processes })).toEqual([
      'p1',
    ]);
    const recent = [lease('p0', 'a'), lease('p1', 'b', NOW - 1)];
    expect(
      planClaims({ self: 'a', now: NOW, leaseMs: LEASE, printerIds: printers(2), leases: recent, processes }),
    ).toEqual([]);
  });

  it('two processes deciding at once mostly reach for different printers', () => {
    const input = { now: NOW, leaseMs: LEASE, printerIds: printers(20), leases: [], processes: [proc('a'), proc('b')] };
    const a = new Set(planClaims({ ...input, self: 'a' }));
    const b = planClaims({ ...input, self: 'b' });
    expect(a.size).toBe(10);
    expect(b.filter((id) => a.has(id)).length).toBeLessThan(10);
  });
});

describe('fan-out packing', () => {
  it('packs events into payloads under the NOTIFY limit, in order, none lost', () => {
    const events = Array.from({ length: 200 }, (_, k) =>
      JSON.stringify({ type: 'printer.state', data: { n: k, pad: 'x'.repeat(100) }, at: 't' }),
    );
    const payloads = packEvents('proc-1', events);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    const back = payloads.flatMap((p) =>
      (JSON.parse(p) as { o: string; e: { data: { n: number } }[] }).e.map((e) => e.data.n),
    );
    expect(back).toEqual(events.map((_, k) => k));
    expect(JSON.parse(payloads[0]!).o).toBe('proc-1');
  });

  it('an event larger than the limit goes alone (the channel then sends it by reference)', () => {
    const big = JSON.stringify({ type: 'ai.analysis', data: { pad: 'y'.repeat(9000) }, at: 't' });
    const payloads = packEvents('p', [JSON.stringify({ type: 'a' }), big, JSON.stringify({ type: 'b' })]);
    expect(payloads).toHaveLength(3);
    expect(Buffer.byteLength(payloads[1]!)).toBeGreaterThan(MAX_PAYLOAD_BYTES);
  });
});

describe('event bus scopes', () => {
  it('delivers another process’s events only to listeners that ask for them, and never as local', () => {
    const bus = new EventBus();
    const got: string[] = [];
    const owner = {};
    bus.on('queue.changed', owner, () => got.push('local'));
    bus.on('queue.changed', owner, () => got.push('remote'), 'remote');
    bus.on('queue.changed', owner, () => got.push('all'), 'all');
    bus.onAny(owner, (e) => got.push(`any:${e.origin ?? 'here'}`));
    bus.onAny(owner, (e) => got.push(`anyAll:${e.origin ?? 'here'}`), 'all');
    bus.inject({ type: 'queue.changed', data: { reason: 'x' }, at: 't', origin: 'p2' });
    expect(got).toEqual(['remote', 'all', 'anyAll:p2']);
    got.length = 0;
    bus.emit('queue.changed', { reason: 'y' });
    expect(got).toEqual(['local', 'all', 'any:here', 'anyAll:here']);
    bus.removeListeners(owner);
    bus.inject({ type: 'queue.changed', data: { reason: 'z' }, at: 't', origin: 'p2' });
    expect(got).toHaveLength(4);
  });
});
