import { describe, expect, it } from 'vitest';
import { encodeAttention } from '../../src/queue/attention.ts';
import { type GateInput, cooldownEndsAt, evaluateGate, noFlags } from '../../src/queue/gatekeeper.ts';
import { FakeClock } from '../../src/util/clock.ts';

const clock = new FakeClock();
const now = clock.now();

function input(
  over: {
    enabled?: boolean;
    state?: Partial<GateInput['state']>;
    settings?: Partial<GateInput['settings']>;
    flags?: Partial<GateInput['flags']>;
  } = {},
): GateInput {
  return {
    enabled: over.enabled ?? true,
    state: { status: 'idle', fullStatus: true, stale: false, error: null, lastJob: null, ...over.state },
    settings: { swapCooldownSeconds: 90, requirePlateClear: false, ...over.settings },
    flags: { ...noFlags, ...over.flags },
  };
}

const finishedAgo = (seconds: number) => ({ jobId: '7', outcome: 'finished' as const, at: now - seconds * 1000 });

describe('gatekeeper', () => {
  const rows: [string, GateInput, string | null][] = [
    ['idle, full status, nothing else: open', input(), null],
    [
      'FINISH that stays (status finished) after the cooldown: open',
      input({ state: { status: 'finished', lastJob: finishedAgo(120) } }),
      null,
    ],
    ['disabled', input({ enabled: false }), 'printer is disabled'],
    ['offline', input({ state: { status: 'offline' } }), 'not connected'],
    ['connecting', input({ state: { status: 'connecting' } }), 'connecting'],
    ['reconciling after a restart', input({ flags: { reconciling: true } }), 'checking a job from before the restart'],
    ['no full report since reconnect', input({ state: { fullStatus: false } }), 'waiting for a full status report'],
    ['stale reports', input({ state: { stale: true } }), 'status reports are stale'],
    ['needs a person', input({ flags: { attention: 'job 5 outcome unknown' } }), 'job 5 outcome unknown'],
    ['start not confirmed', input({ flags: { startNotConfirmed: true } }), 'start not confirmed — check the printer'],
    [
      'printer error',
      input({ state: { error: { code: '0300_4001', message: 'nozzle clog' } } }),
      'printer error: nozzle clog',
    ],
    ['command in flight', input({ flags: { commandInFlight: true } }), 'a start command is in flight'],
    ['queue job active', input({ flags: { activeJobId: '42' } }), 'printing queue job 42'],
    ['post-dispatch hold', input({ flags: { holdUntil: now + 30_000 } }), 'post-dispatch hold, 30 s left'],
    ['status unknown', input({ state: { status: 'unknown' } }), 'status unknown'],
    ['printing (not ours)', input({ state: { status: 'printing' } }), 'printer is printing'],
    ['preparing', input({ state: { status: 'preparing' } }), 'printer is preparing'],
    ['paused', input({ state: { status: 'paused' } }), 'printer is paused'],
    [
      'plate needs clearing and the printer asks for confirmation',
      input({ settings: { requirePlateClear: true }, flags: { plateNeedsClearing: true } }),
      'waiting for the user to confirm the plate is clear',
    ],
    [
      'last start failed, retry later',
      input({ flags: { retryAfter: { at: now + 10_000, message: 'upload failed' } } }),
      'last start failed (upload failed), retry in 10 s',
    ],
    ['plate-swap cooldown', input({ state: { lastJob: finishedAgo(48) } }), 'plate-swap cooldown, 42 s left'],
    [
      'custom cooldown counts from the finish report',
      input({ state: { lastJob: finishedAgo(10) }, settings: { swapCooldownSeconds: 300 } }),
      'plate-swap cooldown, 290 s left',
    ],
  ];

  it('a coded attention reason reaches the gate params for the viewer language', () => {
    const stored = encodeAttention({ code: 'job_outcome_unknown_restart', message: 'job 5 lost', params: { jobId: '5' } });
    const gate = evaluateGate(input({ flags: { attention: stored } }), now);
    expect(gate).toMatchObject({ open: false, code: 'attention', reason: 'job 5 lost' });
    expect(gate.params.detail).toEqual({ code: 'job_outcome_unknown_restart', message: 'job 5 lost', params: { jobId: '5' } });
  });

  it.each(rows)('%s', (_name, gateInput, reason) => {
    const gate = evaluateGate(gateInput, now);
    expect(gate).toMatchObject(reason === null ? { open: true, code: null, reason: null } : { open: false, reason });
    expect(gate.open ? gate.code === null : typeof gate.code === 'string').toBe(true);
  });

  it('opens once the cooldown has passed (FakeClock)', () => {
    const c = new FakeClock();
    const g = input({ state: { lastJob: { jobId: '1', outcome: 'finished', at: c.now() } } });
    expect(evaluateGate(g, c.now()).reason).toBe('plate-swap cooldown, 90 s left');
    c.advance(89_500);
    expect(evaluateGate(g, c.now()).reason).toBe('plate-swap cooldown, 1 s left');
    c.advance(500);
    expect(evaluateGate(g, c.now()).open).toBe(true);
  });

  it('post-dispatch hold ends on time', () => {
    const g = input({ flags: { holdUntil: now + 1000 } });
    expect(evaluateGate(g, now).open).toBe(false);
    expect(evaluateGate(g, now + 1000).open).toBe(true);
  });

  it('plate flag is ignored when the printer does not ask for confirmation', () => {
    expect(evaluateGate(input({ flags: { plateNeedsClearing: true } }), now).open).toBe(true);
  });

  it('cooldown defaults to 90 s when unset or invalid', () => {
    const state = { lastJob: finishedAgo(0) };
    expect(cooldownEndsAt(state, {})).toBe(now + 90_000);
    expect(cooldownEndsAt(state, { swapCooldownSeconds: -5 })).toBe(now + 90_000);
    expect(cooldownEndsAt({ lastJob: null }, { swapCooldownSeconds: 10 })).toBeNull();
  });
});
