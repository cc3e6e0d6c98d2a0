/**
 * Moonraker print states from firmware variants, against the independent Moonraker stand-in through
 * the real server: `completed` (Anycubic's Klipper) completes the queue copy; a state the driver
 * does not know closes the printer to jobs (unknown, with a notice naming it) — never idle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, smallGcode, startHarness, waitFor } from './harness.ts';
import { MoonrakerStandin, type MoonrakerStandinOptions } from './moonraker-standin.ts';

const API_KEY = 'b4c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5';

let h: Harness | null = null;
let standin: MoonrakerStandin | null = null;
afterEach(async () => {
  await h?.close();
  await standin?.stop();
  h = null;
  standin = null;
});

async function connect(opts: Partial<MoonrakerStandinOptions> = {}) {
  standin = new MoonrakerStandin({ apiKey: API_KEY, startupMs: 150, progressStepMs: 60, ...opts });
  const url = await standin.start();
  h = await startHarness();
  const id = await h.addPrinter({ name: 'Klipper', driver: 'moonraker', model: 'Kobra', connection: { url, apiKey: API_KEY } });
  await waitFor(async () => (await h!.printer(id)).state.status === 'idle', 'printer idle', 10_000);
  return { id, s: standin, harness: h };
}

async function queueOne(harness: Harness, printerId: string) {
  const fileId = await harness.upload('part.gcode', smallGcode(20).text);
  const res = await harness.api('POST', '/api/v1/queue', { fileId, copies: 1, printerIds: [printerId] });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

describe('Moonraker firmware variants (stand-in)', () => {
  it('`completed` ends the job as finished: the copy is done, the printer idle', async () => {
    const { id, s, harness } = await connect({ completeState: 'completed' });
    await queueOne(harness, id);
    await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'queue item done', 20_000);
    expect(s.printState).toBe('completed');
    const p = await harness.printer(id);
    expect(p.state.status).toBe('idle');
    expect(p.state.lastJob).toMatchObject({ outcome: 'finished' });
    expect(harness.events.some((e) => e.type === 'job.failed')).toBe(false);
  }, 30_000);

  it('an unknown print state: unknown with a notice, the gate closed, no job sent until the state is known again', async () => {
    const { id, s, harness } = await connect();
    s.setPrintState('busy_homing');
    const p = await waitFor(async () => {
      const body = await harness.printer(id);
      return body.state.status === 'unknown' ? body : null;
    }, 'unknown');
    expect(p.state.gate.open).toBe(false);
    expect(p.state.notices).toEqual([
      expect.objectContaining({ code: 'printer_state_unknown', params: { state: 'busy_homing', field: 'print_stats.state' } }),
    ]);
    await queueOne(harness, id);
    await new Promise((r) => setTimeout(r, 400));
    expect(s.rpcLog.some((r) => r.method === 'printer.print.start')).toBe(false);
    expect(s.uploads).toHaveLength(0);
    s.setPrintState('standby');
    await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'queue item done', 20_000);
  }, 30_000);
});
