/**
 * Moonraker print_stats.state mapping (issue 10): any value the driver does not know is `unknown`
 * (never idle and ready) with a notice naming it; `completed` (Anycubic's Klipper) ends the job as
 * finished. Pure mapping first, then over the simulator's real JSON-RPC WebSocket.
 */
import { MoonrakerSimulator } from '@rwc/simulators/moonraker/index.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { MoonrakerDriver } from '../../src/printers/moonraker/driver.ts';
import { mapStatus } from '../../src/printers/moonraker/state-map.ts';
import { jobRequest, makeCtx, until, writeGcode } from '../marlin/helpers.ts';

const ready = { webhooks: { state: 'ready' } };

describe('print_stats.state → status', () => {
  it('known states map as before; complete and completed are idle', () => {
    const status = (state: unknown) => mapStatus({ ...ready, print_stats: { state } }, 'ready').status;
    expect(status('standby')).toBe('idle');
    expect(status('complete')).toBe('idle');
    expect(status('completed')).toBe('idle');
    expect(status('cancelled')).toBe('idle');
    expect(status('printing')).toBe('printing');
    expect(status('paused')).toBe('paused');
    expect(status('error')).toBe('error');
  });

  it('anything else — or nothing — is unknown with a warning naming the value', () => {
    for (const state of ['busy', 'Printing', 'startup', '', 'constructor', 'toString', 42, null, undefined]) {
      const p = mapStatus({ ...ready, print_stats: state === undefined ? {} : { state } }, 'ready');
      expect(p.status, String(state)).toBe('unknown');
      expect(p.notices, String(state)).toEqual([
        expect.objectContaining({
          level: 'warning',
          code: 'printer_state_unknown',
          params: { state: typeof state === 'string' ? state : '(none)', field: 'print_stats.state' },
        }),
      ]);
    }
    expect(mapStatus({ ...ready }, 'ready').status).toBe('unknown'); // print_stats never sent
  });

  it('a known state clears the notice again', () => {
    expect(mapStatus({ ...ready, print_stats: { state: 'standby' } }, 'ready').notices).toEqual([]);
  });
});

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(opts: ConstructorParameters<typeof MoonrakerSimulator>[0] = {}) {
  const sim = new MoonrakerSimulator({ timeScale: 0.05, printSeconds: 10, ...opts });
  await sim.start();
  const h = makeCtx({ url: sim.url });
  const driver = new MoonrakerDriver(h.ctx);
  cleanup.push(async () => {
    await driver.stop();
    await sim.stop();
  });
  await driver.start();
  await until(() => h.last()?.status === 'idle', 5000, 'idle');
  return { sim, driver, ...h };
}

describe('Moonraker driver: firmware variants (real WebSocket against the simulator)', () => {
  it('Anycubic Klipper: a print that ends in `completed` is finished', async () => {
    const { sim, driver, last } = await setup({ completeState: 'completed' });
    await driver.startJob(jobRequest(writeGcode(['G28', 'G1 X10 F3000']), '4711'));
    await until(() => last().lastJob !== null, 10_000, 'finish');
    expect(sim.klippy.printState).toBe('completed');
    expect(last().lastJob).toMatchObject({ jobId: '4711', outcome: 'finished' });
    expect(last().status).toBe('idle');
  });

  it('an unknown state while idle: unknown with a notice, and no job is accepted; back to idle when it is known again', async () => {
    const { sim, driver, last } = await setup();
    sim.setPrintState('calibrating');
    await until(() => last().status === 'unknown', 5000, 'unknown');
    expect(last().notices).toEqual([expect.objectContaining({ code: 'printer_state_unknown', params: { state: 'calibrating', field: 'print_stats.state' } })]);
    const err = await driver.startJob(jobRequest(writeGcode(['G28']), '4712')).catch((e) => e);
    expect(err?.code).toBe('busy');
    expect(sim.files.size).toBe(0);
    sim.setPrintState('standby');
    await until(() => last().status === 'idle', 5000, 'idle again');
    expect(last().notices).toEqual([]);
  });

  it('an unknown state during a print is not read as the end of the job', async () => {
    const { sim, driver, last } = await setup({ printSeconds: 1000 });
    await driver.startJob(jobRequest(writeGcode(['G28', 'G1 X10 F3000']), '4713'));
    await until(() => last().status === 'printing', 5000, 'printing');
    sim.setPrintState('printing_resumed_v2');
    await until(() => last().status === 'unknown', 5000, 'unknown');
    expect(last().lastJob).toBeNull();
    sim.setPrintState('printing');
    await until(() => last().status === 'printing', 5000, 'printing again');
    expect(last().job?.jobId).toBe('4713');
  });
});
