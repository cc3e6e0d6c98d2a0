/**
 * Our Moonraker driver against an independent Moonraker stand-in (not our simulator), through the
 * real server over HTTP: add printer → idle once Klippy is ready, queue a .gcode → uploaded with
 * multipart + X-Api-Key → printing → complete → item done; a Klippy shutdown pauses the queue.
 */
import { createHash } from 'node:crypto';
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

async function connect(opts: Partial<MoonrakerStandinOptions> = {}, apiKey = API_KEY, extra: Record<string, unknown> = {}) {
  standin = new MoonrakerStandin({ apiKey: API_KEY, startupMs: 150, progressStepMs: 60, ...opts });
  const url = await standin.start();
  h = await startHarness();
  const connection = { url, apiKey, ...extra };
  const id = await h.addPrinter({ name: 'Stand-in Klipper', driver: 'moonraker', model: 'Voron 2.4', connection });
  return { id, s: standin, harness: h };
}

async function queueOne(harness: Harness, printerId: string) {
  const file = smallGcode(20);
  const fileId = await harness.upload('standin.gcode', file.text);
  expect((await harness.api('POST', '/api/v1/queue', { fileId, copies: 1, printerIds: [printerId] })).status).toBe(201);
  expect((await harness.api('POST', '/api/v1/queue/start')).body).toEqual({ running: true });
  return file;
}

describe('Moonraker stand-in (independent of our simulator)', () => {
  it('idle once Klippy is ready; queue → upload → printing with progress → complete → item done', async () => {
    const { id, s, harness } = await connect();
    await waitFor(async () => (await harness.printer(id)).state.status === 'idle', 'printer idle', 10_000);
    const methods = s.rpcLog.map((r) => r.method);
    expect(methods[0]).toBe('server.connection.identify');
    expect(methods).toContain('printer.objects.subscribe');
    const st = (await harness.printer(id)).state;
    expect(st.temperatures.nozzle).toEqual({ actual: 24.5, target: 0 });

    const file = await queueOne(harness, id);
    const seen = await waitFor(async () => {
      const p = (await harness.printer(id)).state;
      return p.status === 'printing' && p.progress > 0 ? p : null;
    }, 'printing with progress');
    expect(seen.progress).toBeLessThanOrEqual(100);
    await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'queue item done', 20_000);
    expect((await harness.queue()).items[0]).toMatchObject({ status: 'done', copiesDone: 1 });
    expect(s.printState).toBe('complete');
    expect((await harness.printer(id)).state.status).toBe('idle');

    // The upload: multipart into gcodes with a valid SHA-256, and the very file was started.
    expect(s.uploads).toHaveLength(1);
    const [path, data] = [...s.files.entries()][0];
    expect(data.toString('utf8')).toBe(file.text);
    expect(s.uploads[0].fields.checksum).toBe(createHash('sha256').update(file.text).digest('hex'));
    const start = s.rpcLog.find((r) => r.method === 'printer.print.start');
    expect(start?.params).toEqual({ filename: path });
    expect(harness.events.some((e) => e.type === 'job.failed')).toBe(false);
  }, 30_000);

  it('a tiny file that is already complete in the first status batch: the copy still counts as done', async () => {
    const { id, s, harness } = await connect({ instantComplete: true });
    await waitFor(async () => (await harness.printer(id)).state.status === 'idle', 'printer idle', 10_000);
    await queueOne(harness, id);
    await waitFor(() => s.printState === 'complete', 'stand-in complete');
    await waitFor(async () => (await harness.queue()).items[0]?.status === 'done', 'queue item done', 15_000);
    expect((await harness.queue()).items[0]).toMatchObject({ status: 'done', copiesDone: 1 });
    expect(harness.events.some((e) => e.type === 'job.failed')).toBe(false);
  }, 30_000);

  it('a wrong API key: the websocket upgrade is refused and the printer never turns idle', async () => {
    const { id, s, harness } = await connect({}, 'not-the-key');
    await waitFor(() => s.rejectedUpgrades > 0, 'refused upgrade');
    const p = await waitFor(async () => {
      const st = (await harness.printer(id)).state;
      return st.connectionNote ? st : null;
    }, 'connection note');
    expect(p.status).not.toBe('idle');
    expect(p.connectionNote).toMatch(/key|401/i);
  }, 30_000);

  it('oneshot-token auth: GET /access/oneshot_token with the key, then the websocket with ?token=', async () => {
    const { id, s, harness } = await connect({}, API_KEY, { auth: 'oneshot' });
    await waitFor(async () => (await harness.printer(id)).state.status === 'idle', 'printer idle', 10_000);
    expect(s.upgradesWithToken).toBe(1);
  }, 30_000);

  for (const how of ['notify', 'webhooks'] as const) {
    it(`Klippy shutdown mid-print (${how === 'notify' ? 'notify_klippy_shutdown' : 'webhooks.state delta'}): printer error, queue paused, alert`, async () => {
      const { id, s, harness } = await connect({ holdAt: 0.3 });
      await waitFor(async () => (await harness.printer(id)).state.status === 'idle', 'printer idle', 10_000);
      await queueOne(harness, id);
      await waitFor(async () => (await harness.printer(id)).state.status === 'printing', 'printing');

      s.shutdown('MCU \'mcu\' shutdown: Timer too close', how);

      const p = await waitFor(async () => {
        const st = (await harness.printer(id)).state;
        return st.status === 'error' ? st : null;
      }, 'printer error');
      expect(p.error.code).toBe('klippy_shutdown');
      await waitFor(async () => (await harness.printer(id)).state.error?.message?.includes('Timer too close'), 'Klipper message');
      await waitFor(async () => (await harness.queue()).running === false, 'queue paused');
      const alert = await waitFor(
        async () => (await harness.alerts(id)).find((a: any) => a.data.code === 'queue_paused_printer_error'),
        'alert',
      );
      expect(alert.data.level).toBe('error');
      expect((await harness.queue()).items[0].status).not.toBe('done');
    }, 30_000);
  }
});
