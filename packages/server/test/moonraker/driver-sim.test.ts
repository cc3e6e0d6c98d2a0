import { MoonrakerSimulator } from '@rwc/simulators/moonraker/index.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { StartNotConfirmedError } from '../../src/printers/driver.ts';
import { MoonrakerDriver } from '../../src/printers/moonraker/driver.ts';
import { jobRequest, makeCtx, until, writeGcode } from '../marlin/helpers.ts';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(simOpts: ConstructorParameters<typeof MoonrakerSimulator>[0] = {}, conn: Record<string, unknown> = {}) {
  const sim = new MoonrakerSimulator({ timeScale: 0.05, printSeconds: 10, ...simOpts });
  await sim.start();
  const h = makeCtx({ url: sim.url, ...conn });
  const driver = new MoonrakerDriver(h.ctx);
  cleanup.push(async () => {
    await driver.stop();
    await sim.stop();
  });
  await driver.start();
  return { sim, driver, ...h };
}

const gcode = () => writeGcode(['G28', 'G1 X10 Y10 F3000', 'M104 S0']);

describe('Moonraker driver against the simulator', () => {
  it('subscribes and maps the full status to idle', async () => {
    const { sim, last } = await setup({ apiKey: 'k1' }, { apiKey: 'k1' });
    await until(() => last()?.status === 'idle' && last().fullStatus, 5000, 'idle');
    expect(last().temperatures.nozzle).toEqual({ actual: 21.3, target: 0 });
    expect(sim.calls.slice(0, 3)).toEqual(['server.connection.identify', 'server.info', 'printer.objects.subscribe']);
  });

  it('authenticates with a oneshot token on the websocket url', async () => {
    const { sim, last } = await setup({ apiKey: 'secret' }, { apiKey: 'secret', auth: 'oneshot' });
    await until(() => last()?.status === 'idle', 5000, 'idle');
    expect(sim.connectionsAccepted).toBe(1);
  });

  it('a wrong API key keeps the printer offline with a hint', async () => {
    const { sim, last } = await setup({ apiKey: 'right' }, { apiKey: 'wrong' });
    await until(() => last()?.connectionNote?.includes('API key') === true, 5000, 'note');
    expect(last().status).toBe('offline');
    expect(sim.connectionsAccepted).toBe(0);
  });

  it('uploads, starts, reports progress and ends idle with lastJob finished', async () => {
    const { sim, driver, states, last } = await setup({ apiKey: 'k' }, { apiKey: 'k' });
    await until(() => last()?.status === 'idle', 5000, 'idle');
    const file = gcode();
    const progress: number[] = [];
    await driver.startJob({ ...jobRequest(file, '31'), fileName: 'cube.gcode', onUploadProgress: (s) => progress.push(s) });
    expect(sim.files.get('rwc/31-cube.gcode')?.length).toBe(file.size);
    expect(progress.at(-1)).toBe(file.size);
    expect(states.find((s) => s.status === 'printing')?.job).toEqual({ jobId: '31', fileName: 'cube.gcode', plate: 1 });
    await until(() => last().lastJob !== null, 10_000, 'finish');
    expect(last().lastJob).toMatchObject({ jobId: '31', outcome: 'finished' });
    expect(last().status).toBe('idle');
    expect(states.some((s) => s.status === 'printing' && (s.progress ?? 0) > 20 && (s.progress ?? 0) < 100)).toBe(true);
    expect(states.some((s) => s.layer !== null)).toBe(true);
    expect(sim.calls).not.toContain('server.job_queue.post_job');
  });

  it('pause, resume and cancel go through printer.print.*', async () => {
    const { driver, last } = await setup({ printSeconds: 1000 });
    await until(() => last()?.status === 'idle', 5000, 'idle');
    await driver.startJob(jobRequest(gcode(), '8'));
    await driver.pause();
    await until(() => last().status === 'paused', 5000, 'paused');
    await driver.resume();
    await until(() => last().status === 'printing', 5000, 'printing');
    await driver.cancel();
    await until(() => last().status === 'idle', 5000, 'idle after cancel');
    expect(last().lastJob).toMatchObject({ jobId: '8', outcome: 'cancelled' });
  });

  it('klippy shutdown → status error with the message; firmware restart clears it', async () => {
    const { sim, driver, last } = await setup({ printSeconds: 1000 });
    await until(() => last()?.status === 'idle', 5000, 'idle');
    await driver.startJob(jobRequest(gcode(), '12'));
    sim.shutdown('Heater extruder not heating at expected rate');
    await until(() => last().status === 'error', 5000, 'error');
    expect(last().error).toEqual({ code: 'klippy_shutdown', message: 'Heater extruder not heating at expected rate' });
    expect(last().lastJob).toMatchObject({ jobId: '12', outcome: 'failed' });
    await driver.clearError();
    await until(() => last().status === 'idle', 5000, 'ready again');
    expect(last().error).toBeNull();
  });

  it('a failed print (print_stats error) is an error until cleared with SDCARD_RESET_FILE', async () => {
    const { sim, driver, last } = await setup({ printSeconds: 1000 });
    await until(() => last()?.status === 'idle', 5000, 'idle');
    await driver.startJob(jobRequest(gcode(), '13'));
    sim.failPrint('Move out of range');
    await until(() => last().status === 'error', 5000, 'error');
    expect(last().error).toEqual({ code: 'print_error', message: 'Move out of range' });
    expect(last().lastJob).toMatchObject({ jobId: '13', outcome: 'failed' });
    await driver.clearError();
    await until(() => last().status === 'idle', 5000, 'idle again');
    expect(last().lastJob?.outcome).toBe('failed'); // the reset is not a second job ending
  });

  it('reconnects after the connection drops and picks up a print that ended meanwhile', async () => {
    const { sim, driver, last } = await setup({ printSeconds: 1000 });
    await until(() => last()?.status === 'idle', 5000, 'idle');
    await driver.startJob(jobRequest(gcode(), '44'));
    sim.dropConnections();
    await until(() => last().status === 'connecting' && !last().fullStatus, 5000, 'connecting');
    sim.finishPrint();
    await until(() => last().fullStatus && last().status === 'idle', 10_000, 'reconnected');
    expect(sim.connectionsAccepted).toBe(2);
    expect(last().lastJob).toMatchObject({ jobId: '44', outcome: 'finished' });
  });

  it('klippy startup shows as connecting until notify_klippy_ready', async () => {
    const { sim, last } = await setup();
    await until(() => last()?.status === 'idle', 5000, 'idle');
    sim.klippyStartup();
    await until(() => last().status === 'connecting', 5000, 'connecting');
    await until(() => last().connectionNote === 'Klipper is starting', 5000, 'note');
    sim.klippyReady();
    await until(() => last().status === 'idle' && last().connectionNote === null, 5000, 'ready');
  });

  it('start not confirmed when the print never shows up', async () => {
    const { sim, driver, last } = await setup({}, { startConfirmSeconds: 0.3 });
    await until(() => last()?.status === 'idle', 5000, 'idle');
    sim.ignorePrintStart = true;
    await expect(driver.startJob(jobRequest(gcode(), '5'))).rejects.toBeInstanceOf(StartNotConfirmedError);
  });
});
