import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numberedLine, splitNumberedLine } from '../../src/printers/marlin/line-format.ts';
import { classifyLine, hasTemperatures, parseTemperatureLine } from '../../src/printers/marlin/parse.ts';
import { LineSender } from '../../src/printers/marlin/sender.ts';
import { FakeClock } from '../../src/util/clock.ts';

const dir = path.resolve(import.meta.dirname, '../../../../../shared/fixtures/octo');
/** Lines of a transcript as [direction, text]; `Recv:19:09:41.267: x` timestamps dropped, comments skipped. */
function transcript(name: string): Array<['Send' | 'Recv', string]> {
  return fs
    .readFileSync(path.join(dir, name), 'utf8')
    .split('\n')
    .filter((l) => /^(Send|Recv):/.test(l))
    .map((l) => {
      const dirn = l.slice(0, 4) as 'Send' | 'Recv';
      const text = l.slice(5).replace(/^\d\d:\d\d:\d\d\.\d+: /, '');
      return [dirn, dirn === 'Send' ? text.trim() : text.replace(/^ /, dirn === 'Recv' && text.startsWith('  ') ? ' ' : '')];
    });
}

function harness(opts: { next: number; commands: string[]; before?: string[] }) {
  const clock = new FakeClock();
  const written: string[] = [];
  const failures: string[] = [];
  const sender = new LineSender({
    clock,
    write: (l) => written.push(l),
    okTimeoutMs: 30_000,
    maxConsecutiveTimeouts: 5,
    maxWindow: 16,
    rxBudgetBytes: 0,
    onFailure: (code) => failures.push(code),
  });
  sender.resetLineNumbers(opts.next);
  const feed = (line: string) => {
    sender.activity();
    const p = classifyLine(line);
    if (p.kind === 'ok') sender.ok(p.advanced);
    else if (p.kind === 'resend') sender.resend(p.lineNumber);
    else if (p.kind === 'error' && p.errorClass === 'simulate_ok') sender.ok();
  };
  for (const line of opts.before ?? []) feed(line);
  const queue = [...opts.commands];
  sender.setJob({ take: () => queue.shift() ?? 'end' });
  return { clock, written, failures, sender, feed };
}

describe('real transcripts replayed', () => {
  it('every checksummed line in the fixtures verifies with our framing', () => {
    let checked = 0;
    for (const f of ['transcript-marlin-advanced-ok.txt', 'transcript-prusa-rx-buffer-resend.txt', 'octoprint-terminal-lines.txt']) {
      for (const [d, text] of transcript(f)) {
        if (d !== 'Send') continue;
        const parts = splitNumberedLine(text)!;
        expect(numberedLine(parts.lineNumber, parts.command)).toBe(text);
        checked++;
      }
    }
    expect(checked).toBe(22);
  });

  it('ADVANCED_OK: same lines go out, but once B is known several are kept in flight', () => {
    const lines = transcript('transcript-marlin-advanced-ok.txt');
    const sends = lines.filter(([d]) => d === 'Send').map(([, t]) => t);
    const oks = lines.filter(([d]) => d === 'Recv').map(([, t]) => t);
    // The first ok (for line 1644, sent before the excerpt) tells the buffer size.
    const h = harness({ next: 1645, commands: sends.map((s) => splitNumberedLine(s)!.command), before: [oks[0]] });
    expect(h.sender.advancedOk).toBe(true);
    expect(h.sender.inFlight).toBe(sends.length); // B63 leaves room for all nine
    for (const ok of oks.slice(1)) h.feed(ok);
    expect(h.written).toEqual(sends);
    expect(h.sender.inFlight).toBe(0);
    expect(h.failures).toEqual([]);
  });

  it('Prusa RX overflow: Resend replays history with the original numbers, duplicates swallowed', () => {
    const lines = transcript('transcript-prusa-rx-buffer-resend.txt');
    const textOf = new Map<number, string>();
    for (const [d, t] of lines) if (d === 'Send') textOf.set(splitNumberedLine(t)!.lineNumber, t);
    const commands = [12331, 12332, 12333, 12334, 12335, 12336].map((n) => splitNumberedLine(textOf.get(n)!)!.command);
    const h = harness({ next: 12331, commands });
    // Lines 12331..12334 were acknowledged but lost in the printer's overflowing RX buffer.
    for (let i = 0; i < 4; i++) h.feed('ok');
    expect(h.written.at(-1)).toBe(textOf.get(12335));
    h.written.length = 0;
    // From the transcript on: Full RX Buffer / ok / Error:Line Number... / Resend: 12331 / ...
    h.feed('Full RX Buffer');
    h.feed('ok');
    expect(h.written).toEqual([textOf.get(12336)]);
    h.feed('Error:Line Number is not Last Line Number+1, Last Line: 12330');
    h.feed('Resend: 12331');
    h.feed('Resend: 12331'); // caused by the line already in flight: ignored
    h.feed('ok');
    for (let i = 0; i < 5; i++) h.feed('ok');
    expect(h.written.slice(1)).toEqual([12331, 12332, 12333, 12334, 12335, 12336].map((n) => textOf.get(n)));
    expect(h.sender.stats.resends).toBe(1);
    expect(h.failures).toEqual([]);
  });

  it('the same line asked for more than 10 times is a resend loop', () => {
    const h = harness({ next: 1, commands: ['G1 X1'] });
    for (let i = 0; i < 11; i++) {
      h.feed('Resend: 1');
      h.feed('ok');
    }
    expect(h.failures).toEqual(['resend_loop']);
  });

  it('M115 capability report and interleaved autoreport temperatures', () => {
    const caps = new Map<string, boolean>();
    let firmware: Record<string, string> = {};
    const temps: number[] = [];
    for (const [, text] of transcript('transcript-marlin-m115-capabilities.txt')) {
      const p = classifyLine(text);
      if (p.kind === 'capability') caps.set(p.name, p.enabled);
      if (p.kind === 'firmware') firmware = p.fields;
      if (hasTemperatures(text)) temps.push(parseTemperatureLine(text, 0).temps.T0[0]);
    }
    expect(firmware.FIRMWARE_NAME).toBe('Marlin 2.0.8 (May 4 2021 14:14:32)');
    expect(firmware.EXTRUDER_COUNT).toBe('1');
    expect(caps.get('AUTOREPORT_TEMP')).toBe(true);
    expect(caps.get('EMERGENCY_PARSER')).toBe(false);
    expect(caps.get('SDCARD')).toBe(true);
    expect(caps.size).toBe(22);
    expect(temps).toEqual([41.13, 47.25]);
  });

  it('busy keepalives hold off the ok timeout through an M600 prompt', () => {
    const h = harness({ next: 10, commands: ['M600'] });
    expect(h.sender.inFlight).toBe(1);
    const kinds: string[] = [];
    for (const [, text] of transcript('transcript-marlin-busy-prompt-m600.txt')) {
      h.clock.advance(20_000); // each line arrives well inside the 30 s timeout
      kinds.push(classifyLine(text).kind);
      h.feed(text);
    }
    expect(h.sender.stats.timeouts).toBe(0);
    expect(h.sender.inFlight).toBe(0); // the delayed ok acknowledged M600
    expect(kinds.filter((k) => k === 'busy')).toHaveLength(4);
    expect(kinds.filter((k) => k === 'action')).toHaveLength(6);
  });

  it('cncjs and OctoPrint terminal lines: temperatures in every form', () => {
    const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    const cncjs = read('cncjs-marlin-temperature-lines.txt');
    expect(classifyLine('Error:Printer halted. kill() called!')).toMatchObject({ kind: 'error', errorClass: 'fatal' });
    const dual = cncjs.find((l) => l.startsWith('ok T:293.0 /0.0 (0.0) B:25.9 /0.0 T0'))!;
    expect(parseTemperatureLine(dual, 0).temps).toMatchObject({ T0: [293, 0], T1: [100, 0], B: [25.9, 0] });
    expect(parseTemperatureLine('ok C:25.9 /0.00 L:21.84 /0.00 @:0 C@:127 C@:0', 0).temps.C).toEqual([25.9, 0]);
    for (const l of cncjs.filter(hasTemperatures)) expect(Object.keys(parseTemperatureLine(l, 0).temps).length).toBeGreaterThan(0);
    const adv = 'ok N5993 P15 B15 T:59.2 /0.0 B:31.8 /0.0 T0:59.2 /0.0 @:0 B@:100:';
    expect(classifyLine(adv)).toEqual({ kind: 'ok', advanced: { lineNumber: 5993, plannerFree: 15, bufferFree: 15 } });
    expect(parseTemperatureLine(adv, 0).temps).toEqual({ T0: [59.2, 0], B: [31.8, 0] });
    const prusa = parseTemperatureLine('ok T:210.3 /210.0 B:60.3 /60.0 T0:210.3 /210.0 @:79 B@:0 P:35.9 A:40.0', 0).temps;
    expect(prusa).toEqual({ T0: [210.3, 210], B: [60.3, 60], P: [35.9, null], A: [40, null] });
  });
});
