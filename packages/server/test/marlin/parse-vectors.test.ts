import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checksum, numberedLine, splitNumberedLine, stripComment } from '../../src/printers/marlin/line-format.ts';
import {
  classifyError,
  classifyLine,
  hasTemperatures,
  parseCapabilityLine,
  parseFirmwareLine,
  parsePositionLine,
  parseResendLine,
  parseTemperatureLine,
} from '../../src/printers/marlin/parse.ts';

const fixtures = path.resolve(import.meta.dirname, '../../../../../shared/fixtures/octo');
const vectors = JSON.parse(fs.readFileSync(path.join(fixtures, 'octoprint-serial-parse-vectors.json'), 'utf8'));

describe('OctoPrint parse vectors', () => {
  it.each(vectors.temperature_lines as any[])('temperatures: $line (tool $current_tool)', (v) => {
    const { temps, maxTool } = parseTemperatureLine(v.line, v.current_tool);
    expect(temps).toEqual(v.expect);
    expect(maxTool).toBe(v.max_tool);
  });

  it.each(vectors.capability_lines as any[])('capability: $line', (v) => {
    expect(parseCapabilityLine(v.line)).toEqual(v.expect);
  });

  it.each(vectors.resend_lines as any[])('resend: $line', (v) => {
    expect(parseResendLine(v.line)).toBe(v.expect);
    expect(classifyLine(v.line)).toEqual({ kind: 'resend', lineNumber: v.expect });
  });

  it.each(vectors.firmware_lines as any[])('firmware: $line', (v) => {
    const parsed = parseFirmwareLine(v.line);
    if (v.expect) expect(parsed).toEqual(v.expect);
    else expect(parsed).toMatchObject(v.expect_subset);
  });

  it.each(vectors.position_lines as any[])('position: "$line"', (v) => {
    expect(parsePositionLine(v.line)).toEqual(v.expect);
  });

  it('classifies every error line like OctoPrint', () => {
    const classes = vectors.error_line_classes;
    const byKey: Record<string, string> = {
      resend_will_follow: 'resend',
      recoverable_simulate_ok: 'simulate_ok',
      sd_card_ignored: 'sd',
      unknown_command_ignored: 'unknown_command',
      other_error_escalates: 'fatal',
    };
    let checked = 0;
    for (const [key, lines] of Object.entries(classes)) {
      const cls = Object.entries(byKey).find(([prefix]) => key.startsWith(prefix))?.[1];
      if (!cls) continue;
      for (const line of lines as string[]) {
        expect([line, classifyError(line)]).toEqual([line, cls]);
        checked++;
      }
    }
    for (const s of classes.always_fatal_substrings as string[]) expect(classifyError(`Error: x ${s} y`)).toBe('fatal');
    expect(classifyError('Error:Printer halted. kill() called!')).toBe('fatal');
    expect(checked).toBeGreaterThan(15);
  });
});

describe('line framing', () => {
  it('computes the known-good checksums', () => {
    expect(numberedLine(0, 'M110 N0')).toBe('N0 M110 N0*125');
    expect(numberedLine(71667, 'G1 X163.151 Y35.424 E0.02043')).toBe('N71667 G1 X163.151 Y35.424 E0.02043*83');
    expect(numberedLine(85343, 'G1 Z29.880 F10800.000')).toBe('N85343 G1 Z29.880 F10800.000*15');
    expect(checksum('N0 M110 N0')).toBe(125);
  });

  it('strips comments with the \\; escape and splits numbered lines', () => {
    expect(stripComment('G1 X1 ; move')).toBe('G1 X1');
    expect(stripComment('; only a comment')).toBe('');
    expect(stripComment('M117 a\\;b ;c')).toBe('M117 a;b');
    expect(splitNumberedLine('N12 G1 X1*99')).toEqual({ lineNumber: 12, command: 'G1 X1', checksum: 99 });
    expect(splitNumberedLine('G1 X1')).toBeNull();
  });

  it('classifies the other kinds of lines', () => {
    expect(classifyLine('echo:busy: processing')).toEqual({ kind: 'busy' });
    expect(classifyLine('//action:prompt_begin Paused')).toEqual({ kind: 'action', action: 'prompt_begin', params: 'Paused' });
    expect(classifyLine('ok N1644 P58 B63')).toEqual({
      kind: 'ok',
      advanced: { lineNumber: 1644, plannerFree: 58, bufferFree: 63 },
    });
    expect(classifyLine('ok')).toEqual({ kind: 'ok', advanced: { lineNumber: null, plannerFree: null, bufferFree: null } });
    expect(classifyLine('wait')).toEqual({ kind: 'wait' });
    expect(classifyLine('start')).toEqual({ kind: 'start' });
    expect(classifyLine('SD printing byte 10/200')).toEqual({ kind: 'sd_progress', current: 10, total: 200 });
    expect(classifyLine('Done printing file').kind).toBe('sd_done');
    expect(classifyLine('Cap:AUTOREPORT_TEMP:1')).toEqual({ kind: 'capability', name: 'AUTOREPORT_TEMP', enabled: true });
    expect(hasTemperatures(' T:230.06 /230.00 B:60.01 /60.00 @:53 B@:35')).toBe(true);
    expect(hasTemperatures('X:62.417 Y:64.781 Z:0.2 E:2.72328 Count: A:6241 B:6478 C:20')).toBe(false);
  });
});
