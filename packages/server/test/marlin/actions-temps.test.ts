/**
 * Pure Marlin pieces of issue 10: host actions in every spelling, heater targets the host sends,
 * reports without targets, and the resend-storm / resend-without-ok decisions of the line sender
 * (injected clock, scripted firmware lines).
 */
import { describe, expect, it } from 'vitest';
import { numberedLine } from '../../src/printers/marlin/line-format.ts';
import { classifyLine, parseTemperatureLine } from '../../src/printers/marlin/parse.ts';
import { LineSender } from '../../src/printers/marlin/sender.ts';
import { applyTemperatures, targetFromCommand } from '../../src/printers/marlin/temperatures.ts';
import { FakeClock } from '../../src/util/clock.ts';

describe('host actions', () => {
  it('both spellings, any case, with parameters', () => {
    for (const line of ['//action:cancel', '// action:cancel', '//  action: cancel', '// ACTION:Cancel']) {
      expect(classifyLine(line), line).toEqual({ kind: 'action', action: 'cancel', params: '' });
    }
    expect(classifyLine('// action:prompt_begin Filament runout')).toEqual({
      kind: 'action',
      action: 'prompt_begin',
      params: 'Filament runout',
    });
    expect(classifyLine('// just a comment').kind).toBe('other');
  });
});

describe('heater targets', () => {
  it('M104/M109/M140/M190/M141/M191 with S or R, per tool; T<n> changes the tool', () => {
    expect(targetFromCommand('M104 S215', 0)).toEqual({ keys: ['nozzle', 'tool0'], target: 215 });
    expect(targetFromCommand('N12 M109 R190*77', 0)).toEqual({ keys: ['nozzle', 'tool0'], target: 190 });
    expect(targetFromCommand('M104 T1 S200 ; second nozzle', 0)).toEqual({ keys: ['tool1'], target: 200 });
    expect(targetFromCommand('M104 T1 S200', 1)).toEqual({ keys: ['nozzle', 'tool1'], target: 200 });
    expect(targetFromCommand('M140 S60', 0)).toEqual({ keys: ['bed'], target: 60 });
    expect(targetFromCommand('M190 R55', 0)).toEqual({ keys: ['bed'], target: 55 });
    expect(targetFromCommand('M141 S40', 0)).toEqual({ keys: ['chamber'], target: 40 });
    expect(targetFromCommand('T1', 0)).toEqual({ tool: 1 });
    expect(targetFromCommand('M104', 0)).toBeNull();
    expect(targetFromCommand('G1 X10 E0.2', 0)).toBeNull();
  });

  it('a report without a target keeps the last known target (reported or sent), never 0', () => {
    const targets: Record<string, number> = {};
    let temps = applyTemperatures({}, parseTemperatureLine('ok T:200.1 /210.0 B:59.0 /60.0', 0).temps, 0, targets);
    expect(temps.nozzle).toEqual({ actual: 200.1, target: 210 });
    temps = applyTemperatures(temps, parseTemperatureLine(' T:205.3 B:60.1', 0).temps, 0, targets);
    expect(temps.nozzle).toEqual({ actual: 205.3, target: 210 });
    expect(temps.bed).toEqual({ actual: 60.1, target: 60 });
    targets.nozzle = 0; // the host sent M104 S0
    temps = applyTemperatures(temps, parseTemperatureLine(' T:180.0 B:60.0', 0).temps, 0, targets);
    expect(temps.nozzle).toEqual({ actual: 180, target: 0 });
    // Marlin during M109: `T:.. E:0 W:?` carries no target either.
    targets.nozzle = 215;
    temps = applyTemperatures(temps, parseTemperatureLine(' T:190.2 E:0 W:?', 0).temps, 0, targets);
    expect(temps.nozzle?.target).toBe(215);
  });
});

function harness(opts: { advancedOk?: boolean } = {}) {
  const clock = new FakeClock();
  const written: string[] = [];
  const failures: string[] = [];
  const sender = new LineSender({
    clock,
    write: (l) => written.push(l),
    okTimeoutMs: 600_000,
    maxConsecutiveTimeouts: 5,
    maxWindow: 16,
    rxBudgetBytes: 0,
    onFailure: (code) => failures.push(code),
  });
  sender.resetLineNumbers(1);
  const feed = (line: string) => {
    const p = classifyLine(line);
    if (p.kind === 'ok') sender.ok(p.advanced);
    else if (p.kind === 'resend') sender.resend(p.lineNumber);
  };
  const lines = Array.from({ length: 40 }, (_, i) => `G1 X${i}`);
  const queue = [...lines];
  if (opts.advancedOk) feed('ok N0 P15 B8');
  sender.setJob({ take: () => queue.shift() ?? 'end' });
  return { clock, written, failures, sender, feed, lines };
}

describe('line sender: resend storms and resends without ok', () => {
  it('ADVANCED_OK: one bad line and the 7 lines behind it give 8 identical requests — one replay, no resend loop', () => {
    const h = harness({ advancedOk: true });
    expect(h.written).toHaveLength(8); // B8: eight lines in flight
    // Line 1 arrives corrupted; lines 2..8 were already on the wire and each gets its own echo.
    h.feed('Error:checksum mismatch, Last Line: 0');
    h.feed('Resend: 1');
    h.feed('ok');
    for (let i = 2; i <= 8; i++) {
      h.feed('Error:Line Number is not Last Line Number+1, Last Line: 0');
      h.feed('Resend: 1');
      h.feed('ok');
    }
    expect(h.failures).toEqual([]);
    expect(h.sender.stats.resends).toBe(1);
    expect(h.sender.stats.resendEchoes).toBe(7);
    // On a noisy line the send-ahead halves (4 here), and the replay goes out in order from line 1.
    expect(h.sender.window).toBe(4);
    expect(h.written.slice(8)).toEqual(h.lines.slice(0, 4).map((c, i) => numberedLine(i + 1, c)));
    // As the replayed lines are acknowledged, the rest follows — each line once more, in order.
    for (let n = 1; n <= 4; n++) h.feed(`ok N${n} P15 B8`);
    expect(h.written.slice(8, 16)).toEqual(h.lines.slice(0, 8).map((c, i) => numberedLine(i + 1, c)));
    expect(h.failures).toEqual([]);
  });

  it('no ok after a Resend (MarlinKimbra / Teacup): the replay goes out after 0.5 s, also for a rejected M190', () => {
    const clock = new FakeClock();
    const written: string[] = [];
    const sender = new LineSender({
      clock,
      write: (l) => written.push(l),
      okTimeoutMs: 600_000,
      maxConsecutiveTimeouts: 5,
      maxWindow: 16,
      rxBudgetBytes: 0,
      onFailure: () => {},
    });
    sender.resetLineNumbers(52);
    const queue = ['M190 S60', 'G1 X1'];
    sender.setJob({ take: () => queue.shift() ?? 'end' });
    expect(written).toEqual([numberedLine(52, 'M190 S60')]);
    sender.resend(52); // `Error:Line Number…` + `Resend:52`, and no ok ever
    clock.advance(499);
    expect(written).toHaveLength(1);
    clock.advance(2);
    expect(written).toEqual([numberedLine(52, 'M190 S60'), numberedLine(52, 'M190 S60')]);
    expect(sender.stats.resendsWithoutOk).toBe(1);
    // The replayed M190 is now running (heating): no second replay while it legitimately waits.
    clock.advance(60_000);
    expect(written).toHaveLength(2);
  });
});
