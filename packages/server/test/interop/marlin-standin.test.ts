/**
 * Our Marlin driver against an independent Marlin stand-in (not our simulator), through the real
 * server over HTTP: add printer → idle, upload a .gcode, queue one copy, start → every line
 * arrives once, in order, even across an injected checksum error; a kill() halts the queue.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, smallGcode, startHarness, waitFor } from './harness.ts';
import {
  MARLIN1_OLD_STYLE,
  MARLIN2_ADVANCED_OK,
  MARLIN2_NO_AUTOREPORT,
  MarlinStandin,
  type MarlinStandinOptions,
} from './marlin-standin.ts';

let h: Harness | null = null;
let standin: MarlinStandin | null = null;
afterEach(async () => {
  await h?.close();
  await standin?.stop();
  h = null;
  standin = null;
});

/** Commands the host adds on its own (handshake, polling, autoreport setup). */
const HOST_COMMANDS = /^(M110|M115|M155|M105)\b/;

async function connect(opts: MarlinStandinOptions, connection: Record<string, unknown> = {}) {
  standin = new MarlinStandin(opts);
  const url = await standin.start();
  h = await startHarness();
  const id = await h.addPrinter({ name: 'Stand-in Marlin', driver: 'marlin', model: 'Ender-3', connection: { url, ...connection } });
  await waitFor(async () => (await h!.printer(id)).state.status === 'idle', 'printer idle');
  return { id, s: standin, harness: h };
}

async function printOneCopy(harness: Harness, printerId: string, moves: number) {
  const file = smallGcode(moves);
  const fileId = await harness.upload('standin.gcode', file.text);
  const item = await harness.api('POST', '/api/v1/queue', { fileId, copies: 1, printerIds: [printerId] });
  expect(item.status).toBe(201);
  expect((await harness.api('POST', '/api/v1/queue/start')).body).toEqual({ running: true });
  return file;
}

async function expectPrintedExactly(harness: Harness, s: MarlinStandin, printerId: string, commands: string[]) {
  await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'queue item done', 20_000).catch((err) => {
    throw new Error(`${err.message}; last lines:\n${s.transcript.filter((l) => !l.startsWith(">  T:")).slice(-40).join('\n')}`);
  });
  const q = await harness.queue();
  expect(q.items[0]).toMatchObject({ status: 'done', copiesDone: 1 });
  expect(s.executed.filter((c) => !HOST_COMMANDS.test(c))).toEqual(commands);
  const p = await harness.printer(printerId);
  expect(p.state.status).toBe('idle');
  expect(harness.events.some((e) => e.type === 'job.failed')).toBe(false);
}

describe('Marlin stand-in (independent of our simulator)', () => {
  it('Marlin 2.x without AUTOREPORT_TEMP: handshake, M105 polling answer, print with busy lines and one checksum resend', async () => {
    const { id, s, harness } = await connect({ ...MARLIN2_NO_AUTOREPORT, corruptOnce: /^G1 X55\.00\b/ });
    // Handshake per §1.1/1.3: N0 M110 N0*125 first, then M115; no M155 for firmware without AUTOREPORT_TEMP.
    expect(s.received[0]).toBe('N0 M110 N0*125');
    expect(s.executed).toContain('M115');
    expect(s.executed).not.toContain('M155 S2');
    const p = await waitFor(async () => {
      const st = (await harness.printer(id)).state;
      return st.temperatures?.nozzle ? st : null;
    }, 'temperatures from the M105 answer');
    expect(p.temperatures.nozzle).toEqual({ actual: 21.3, target: 0 });
    expect(p.temperatures.bed).toEqual({ actual: 21, target: 0 });

    const file = await printOneCopy(harness, id, 40);
    await expectPrintedExactly(harness, s, id, file.commands);
    // The corrupted line was sent again after `Resend:` with its original number.
    expect(s.rejected).toHaveLength(1);
    const again = s.received.filter((l) => l === s.rejected[0]);
    expect(again).toHaveLength(2);
  }, 30_000);

  for (const flushRxOnError of [false, true]) {
    it(`Marlin 2.x with ADVANCED_OK + AUTOREPORT_TEMP${flushRxOnError ? ', RX buffer dropped on resend (AVR)' : ''}: M155, send-ahead, one resend, every line once`, async () => {
      const { id, s, harness } = await connect({ ...MARLIN2_ADVANCED_OK, flushRxOnError, corruptOnce: /^G1 X60\.00\b/ });
      expect(s.executed).toContain('M155 S2');
      const file = await printOneCopy(harness, id, 120);
      await expectPrintedExactly(harness, s, id, file.commands);
      expect(s.rejected.length).toBeGreaterThanOrEqual(1);
      // ADVANCED_OK lets the host keep more than one line in flight.
      expect(s.maxWaiting).toBeGreaterThan(1);
      // With the RX buffer dropped, lines sent ahead of the bad one were lost and had to be replayed.
      if (flushRxOnError) expect(s.lost.length).toBeGreaterThan(0);
    }, 30_000);
  }

  it('old-style Marlin 1.1: no Cap lines, plain `ok T:..`, `Resend:n` without a space', async () => {
    const { id, s, harness } = await connect({ ...MARLIN1_OLD_STYLE, corruptOnce: /^G1 X52\.00\b/ });
    expect(s.executed).not.toContain('M155 S2');
    const st = await waitFor(async () => (await harness.printer(id)).state.temperatures?.nozzle, 'temperatures');
    expect(st).toEqual({ actual: 21.3, target: 0 });
    const file = await printOneCopy(harness, id, 30);
    await expectPrintedExactly(harness, s, id, file.commands);
    expect(s.rejected).toHaveLength(1);
  }, 30_000);

  it('a board that boots after connect (auto-reset) loses the first hello: the hello is repeated', async () => {
    const { s } = await connect({ ...MARLIN2_NO_AUTOREPORT, bootMs: 600 });
    expect(s.lost[0]).toBe('N0 M110 N0*125');
    expect(s.executed[0]).toBe('M110 N0');
  }, 30_000);

  it('a line lost on the wire: ok timeout → M105 tickle → `Line Number is not Last Line Number+1` → replay, every line once', async () => {
    const { id, s, harness } = await connect({ ...MARLIN2_NO_AUTOREPORT, dropOnce: /^G1 X53\.00\b/ }, { okTimeoutMs: 1500 });
    const file = await printOneCopy(harness, id, 30);
    await expectPrintedExactly(harness, s, id, file.commands);
    expect(s.lost).toHaveLength(1);
    // After the timeout the host tickles with a numbered M105; the first line refused after the loss
    // is the one sent after the lost line (the tickle, unless a late ok already let a job line go).
    const lostAt = s.received.indexOf(s.lost[0]!);
    expect(s.received.slice(lostAt).some((l) => / M105\*/.test(l))).toBe(true);
    expect(s.rejected.length).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('`Error:Printer halted. kill() called!` mid-print: printer error, queue paused, alert', async () => {
    const { id, s, harness } = await connect({ ...MARLIN2_NO_AUTOREPORT, killOn: /^G1 X60\.00\b/ });
    await printOneCopy(harness, id, 60);
    await waitFor(async () => (await harness.printer(id)).state.status === 'error', 'printer error');
    expect(s.killed).toBe(true);
    const p = await harness.printer(id);
    expect(p.state.error.message).toMatch(/kill\(\) called/);
    await waitFor(async () => (await harness.queue()).running === false, 'queue paused');
    const alert = await waitFor(
      async () => (await harness.alerts(id)).find((a: any) => a.data.code === 'queue_paused_printer_error'),
      'alert',
    );
    expect(alert.data.level).toBe('error');
    // OctoPrint's errorHandling=disconnect: M112 is force-sent, then heaters off.
    await waitFor(() => s.received.includes('M112'), 'M112 sent');
    expect((await harness.queue()).items[0].status).not.toBe('done');
  }, 30_000);

  it('thermal runaway then kill(): the error names the cause, not the generic kill line', async () => {
    const { id, s, harness } = await connect({
      ...MARLIN2_NO_AUTOREPORT,
      killOn: /^G1 X55\.00\b/,
      killCause: 'Error:Thermal Runaway, system stopped! Heater_ID: 0',
    });
    await printOneCopy(harness, id, 40);
    await waitFor(async () => (await harness.printer(id)).state.status === 'error', 'printer error');
    await waitFor(() => s.received.includes('M112'), 'M112 sent');
    await waitFor(async () => (await harness.queue()).running === false, 'queue paused');
    const p = await harness.printer(id);
    expect(p.state.error.message).toMatch(/Thermal Runaway/);
  }, 30_000);
});
