/**
 * The Marlin field cases (../shared/cases/marlin-*, and the ADVANCED_OK note of its README) against
 * the independent Marlin stand-in (marlin-standin.ts), through the real server and queue.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, smallGcode, startHarness, waitFor } from './harness.ts';
import { MARLIN2_ADVANCED_OK, MARLIN2_NO_AUTOREPORT, MarlinStandin, type MarlinStandinOptions } from './marlin-standin.ts';

const CASES = path.resolve(import.meta.dirname, '../../../../../shared/cases');

let h: Harness | null = null;
let standin: MarlinStandin | null = null;
afterEach(async () => {
  await h?.close();
  await standin?.stop();
  h = null;
  standin = null;
});

const HOST_COMMANDS = /^(M110|M115|M155|M105)\b/;

async function connect(opts: MarlinStandinOptions, connection: Record<string, unknown> = {}) {
  standin = new MarlinStandin(opts);
  const url = await standin.start();
  h = await startHarness();
  const id = await h.addPrinter({ name: 'Marlin', driver: 'marlin', model: 'MK3S', connection: { url, ...connection } });
  await waitFor(async () => (await h!.printer(id)).state.status === 'idle', 'printer idle');
  return { id, s: standin, harness: h };
}

async function queueFile(harness: Harness, printerId: string, text: string, name = 'case.gcode') {
  const fileId = await harness.upload(name, text);
  const item = await harness.api('POST', '/api/v1/queue', { fileId, copies: 1, printerIds: [printerId] });
  expect(item.status).toBe(201);
  return item.body.id as string;
}

const jobLines = (s: MarlinStandin) => s.executed.filter((c) => !HOST_COMMANDS.test(c));

/** The moves of the case transcript (N241, N242) inside a longer print. */
function caseGcode(): { text: string; commands: string[] } {
  const lines = ['G28', 'G90', 'M83'];
  for (let i = 0; i < 30; i++) lines.push(`G1 X${(100 + i * 0.1).toFixed(1)} Y95.0 E0.01 F3000`);
  lines.push('G1 X110.2 Y95.3 E0.01 F3000', 'G1 X111.0 Y95.9 E0.01 F3000');
  for (let i = 0; i < 30; i++) lines.push(`G1 X${(112 + i * 0.1).toFixed(1)} Y96.0 E0.01 F3000`);
  return { text: `${lines.join('\n')}\n`, commands: lines };
}

describe('marlin-action-spelling', () => {
  const transcript = fs.readFileSync(path.join(CASES, 'marlin-action-spelling', 'transcript.txt'), 'utf8');
  const prusaAction = /^< (\/\/ action:cancel)$/m.exec(transcript)![1]!;

  for (const spelling of [prusaAction, '//action:cancel']) {
    it(`"${spelling}" mid-print ends the job as cancelled and stops streaming`, async () => {
      const { id, s, harness } = await connect({
        ...MARLIN2_NO_AUTOREPORT,
        afterExecute: [{ match: /^G1 X110\.2 Y95\.3/, lines: [spelling] }],
      });
      const file = caseGcode();
      const itemId = await queueFile(harness, id, file.text);
      await waitFor(async () => (await harness.printer(id)).state.lastJob?.outcome === 'cancelled', 'cancelled');
      const printed = jobLines(s).filter((c) => c.startsWith('G1 X'));
      // The line of the action ran; the next job line (N242 in the transcript) never went out.
      expect(printed.at(-1)).toBe('G1 X110.2 Y95.3 E0.01 F3000');
      expect(s.received.some((l) => /G1 X111\.0 Y95\.9/.test(l))).toBe(false);
      // The cancel script ran (heaters off), the queue copy is cancelled, the printer idle again.
      expect(jobLines(s)).toEqual(expect.arrayContaining(['M104 S0', 'M140 S0']));
      const p = await harness.printer(id);
      expect(p.state.status).toBe('idle');
      const item = (await harness.queue()).items.find((i: any) => i.id === itemId);
      expect(item.status).not.toBe('done');
      expect(item.copiesDone).toBe(0);
    }, 30_000);
  }

  it('"// action:paused" then "// action:resumed": the host stops and continues streaming; every line once', async () => {
    const { id, s, harness } = await connect({
      ...MARLIN2_NO_AUTOREPORT,
      afterExecute: [{ match: /^G1 X101\.0 /, lines: ['// action:paused'] }],
    });
    const file = caseGcode();
    await queueFile(harness, id, file.text);
    await waitFor(async () => (await harness.printer(id)).state.status === 'paused', 'paused by the printer');
    const count = jobLines(s).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(jobLines(s).length).toBe(count); // nothing streamed while the printer is paused
    // "paused" means the printer already paused itself: no pause script from the host.
    expect(jobLines(s).some((c) => c === 'G1 Z5 F600')).toBe(false);
    standin!.opts.afterExecute = [{ match: /^M105/, lines: ['//action:resumed'] }];
    await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'done', 20_000);
    expect(jobLines(s).filter((c) => !/^M105/.test(c))).toEqual(file.commands);
  }, 30_000);

  it('"// action:pause" and "//action:resume" are host pause/resume (with the configured scripts)', async () => {
    const { id, s, harness } = await connect({
      ...MARLIN2_NO_AUTOREPORT,
      afterExecute: [{ match: /^G1 X101\.0 /, lines: ['// action:pause'] }],
    });
    const file = caseGcode();
    await queueFile(harness, id, file.text);
    await waitFor(async () => (await harness.printer(id)).state.status === 'paused', 'paused');
    await waitFor(() => jobLines(s).includes('G1 Z5 F600'), 'pause script (lift)');
    standin!.opts.afterExecute = [{ match: /^M105/, lines: ['//action:resume'] }];
    await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'done', 20_000);
    expect(jobLines(s)).toEqual(expect.arrayContaining(['G1 Z-5 F600']));
    expect(jobLines(s).indexOf('G1 Z-5 F600')).toBeGreaterThan(jobLines(s).indexOf('G1 Z5 F600'));
    const moves = jobLines(s).filter((c) => /^G1 X/.test(c));
    expect(moves).toEqual(file.commands.filter((c) => /^G1 X/.test(c)));
  }, 30_000);
});

describe('marlin-resend-without-ok', () => {
  // The ok timeout is ten minutes here: only the resend-without-ok detection can get the print going.
  const SLOW_OK = { okTimeoutMs: 600_000 };

  it('a Resend with no ok after it: the line is replayed at once and the print finishes, every line once', async () => {
    const { id, s, harness } = await connect({ ...MARLIN2_NO_AUTOREPORT, noOkAfterResend: true, corruptOnce: /^G1 X52\.00\b/ }, SLOW_OK);
    const file = smallGcode(30);
    await queueFile(harness, id, file.text);
    await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'done', 20_000);
    expect(jobLines(s)).toEqual(file.commands);
    expect(s.rejected).toHaveLength(1);
    expect(s.transcript.join('\n')).toMatch(/Resend: \d+\n< N\d+ G1 X52\.00/);
  }, 30_000);

  for (const rejected of ['M190 S0', 'M109 S0', 'G28']) {
    it(`a rejected long-running line (${rejected}) is replayed too`, async () => {
      const head = rejected.split(' ')[0]!;
      const { id, s, harness } = await connect(
        { ...MARLIN2_NO_AUTOREPORT, noOkAfterResend: true, corruptOnce: new RegExp(`^${head}\\b`) },
        SLOW_OK,
      );
      const file = smallGcode(10);
      const text = file.text.replace('M140 S0', 'M140 S0\nM190 S0');
      await queueFile(harness, id, text);
      await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'done', 20_000);
      expect(s.rejected.some((l) => new RegExp(` ${head}\\b`).test(l))).toBe(true);
      expect(jobLines(s).filter((c) => c.startsWith(head))).toHaveLength(1);
    }, 30_000);
  }
});

describe('ADVANCED_OK resend storms (cases README note)', () => {
  for (const flushRxOnError of [false, true]) {
    it(`line noise every ~100 lines${flushRxOnError ? ' (RX buffer dropped on resend)' : ''}: the print finishes, every line once and in order`, async () => {
      const { id, s, harness } = await connect({ ...MARLIN2_ADVANCED_OK, bufsize: 16, corruptEvery: 97, flushRxOnError });
      const file = smallGcode(1500);
      await queueFile(harness, id, file.text);
      await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'done', 60_000).catch((err) => {
        throw new Error(`${err.message}; last lines:\n${s.transcript.filter((l) => !l.startsWith('>  T:')).slice(-60).join('\n')}`);
      });
      expect(jobLines(s)).toEqual(file.commands);
      const noise = s.transcript.filter((l) => l.includes('Error:checksum mismatch')).length;
      expect(noise).toBeGreaterThan(12);
      // Storms happened: lines already on the wire rejected out of order, each with its own Resend.
      const storm = s.transcript.filter((l) => l.includes('Line Number is not Last Line Number+1')).length;
      if (!flushRxOnError) expect(storm).toBeGreaterThan(noise);
      expect(harness.events.some((e) => e.type === 'job.failed')).toBe(false);
      expect(s.maxWaiting).toBeGreaterThan(1);
    }, 90_000);
  }
});

describe('temperatures: a report without a target keeps the last known target', () => {
  it('targets the host sends are recorded per heater; reports without targets never zero them', async () => {
    const { id, s, harness } = await connect({ ...MARLIN2_NO_AUTOREPORT, tempReport: 'T:21.3 B:21.0 @:0 B@:0' });
    const st0 = await waitFor(async () => (await harness.printer(id)).state.temperatures?.nozzle, 'temperatures');
    expect(st0).toEqual({ actual: 21.3, target: 0 });
    const driver = harness.server.fleet.get(id)!.driver;
    await driver.sendGcode(['M104 S215', 'M140 S60']);
    // A fresh M105 answer without targets keeps the targets we sent.
    const before = s.executed.filter((c) => c === 'M105').length;
    await driver.sendGcode(['M105']);
    expect(s.executed.filter((c) => c === 'M105').length).toBe(before + 1);
    const st = (await harness.printer(id)).state.temperatures;
    expect(st.nozzle).toEqual({ actual: 21.3, target: 215 });
    expect(st.bed).toEqual({ actual: 21, target: 60 });
  }, 30_000);
});
