import { execFileSync } from 'node:child_process';
import { MarlinSimulator } from '@rwc/simulators/marlin/index.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { MarlinDriver } from '../../src/printers/marlin/driver.ts';
import { jobRequest, makeCtx, segments, until, writeGcode } from './helpers.ts';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(simOpts: ConstructorParameters<typeof MarlinSimulator>[0] = {}, conn: Record<string, unknown> = {}) {
  const sim = new MarlinSimulator({ baudRate: 250000, timeScale: 0.001, ...simOpts });
  await sim.start();
  const h = makeCtx({ ...(sim.ptyPath ? { path: sim.ptyPath, baudRate: 250000 } : { url: sim.url }), ...conn });
  const driver = new MarlinDriver(h.ctx);
  cleanup.push(async () => {
    await driver.stop();
    await sim.stop();
  });
  await driver.start();
  await until(() => h.last()?.status === 'idle', 10_000, 'idle');
  return { sim, driver, ...h };
}

function hasSocat(): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('Marlin print control', () => {
  it('pause parks with the configured G-code, resume returns, cancel runs the cancel script', async () => {
    const { sim, driver, last } = await setup(
      { timeScale: 0.05 },
      { pauseGcode: ['M400', 'G91', 'G1 Z7 F600', 'G90'], cancelGcode: 'M104 S0\nM140 S0\nG28 X Y' },
    );
    await driver.startJob(jobRequest(writeGcode(segments(3000)), '21'));
    await until(() => sim.commandLog.length > 50, 10_000, 'printing');
    await driver.pause();
    expect(last().status).toBe('paused');
    const atPause = sim.commandLog.length;
    expect(sim.commandLog.slice(-3)).toEqual(['G91', 'G1 Z7 F600', 'G90']);
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.commandLog.length).toBe(atPause); // nothing streams while paused
    await driver.resume();
    expect(last().status).toBe('printing');
    await until(() => sim.commandLog.length > atPause + 50, 10_000, 'streaming again');
    expect(sim.commandLog.slice(atPause, atPause + 3)).toEqual(['G91', 'G1 Z-5 F600', 'G90']);
    await driver.cancel();
    expect(sim.commandLog.slice(-3)).toEqual(['M104 S0', 'M140 S0', 'G28 X Y']);
    expect(last()).toMatchObject({ status: 'idle', job: null, lastJob: { jobId: '21', outcome: 'cancelled' } });
    expect(sim.commandLog.filter((c) => c.startsWith('G1 X')).length).toBeLessThan(3000);
  });

  it('prints from the SD card: M28 upload, M23/M24, M27 progress, Done printing file', async () => {
    const { sim, driver, states, last } = await setup({ timeScale: 0.01 }, { printFrom: 'sd' });
    await driver.startJob(jobRequest(writeGcode(segments(200)), '1234567'));
    await until(() => last().lastJob?.outcome === 'finished', 20_000, 'sd print done');
    expect(sim.sd.files.get('j1234567.gco')?.split('\n').filter((l) => l.startsWith('G1 X'))).toHaveLength(200);
    expect(sim.commandLog).toEqual(expect.arrayContaining(['M28 j1234567.gco', 'M29', 'M23 j1234567.gco', 'M24', 'M27 S2']));
    expect(states.some((s) => s.stage === 'uploading to SD card')).toBe(true);
    expect(last().status).toBe('idle');
  });

  it('cancel while copying to the SD card closes the file before the cancel script; a second start is refused', async () => {
    const { sim, driver, last } = await setup({ baudRate: 115200 }, { printFrom: 'sd', cancelGcode: ['M104 S0'] });
    const file = writeGcode(segments(3000));
    const started = driver.startJob(jobRequest(file, '77'));
    await expect(driver.startJob(jobRequest(file, '78'))).rejects.toThrow(/starting a job|printing/);
    await started;
    await until(() => (sim.sd.files.get('j77.gco')?.length ?? 0) > 500, 10_000, 'copying');
    await driver.cancel();
    const log = sim.commandLog;
    expect(log.indexOf('M29')).toBeGreaterThan(0);
    expect(log.lastIndexOf('M104 S0')).toBeGreaterThan(log.indexOf('M29'));
    expect(sim.sd.files.get('j77.gco')).not.toContain('M104 S0');
    expect(last()).toMatchObject({ status: 'idle', lastJob: { jobId: '77', outcome: 'cancelled' } });
  });

  it('reports every tool of a multi-extruder printer', async () => {
    const { driver, last } = await setup({ extruders: 2 });
    await driver.sendGcode(['M104 T1 S180', 'M105']);
    await until(() => last().temperatures.tool1?.target === 180, 5000, 'tool1 target');
    expect(last().temperatures.tool0).toBeDefined();
    expect(last().temperatures.nozzle?.target).toBe(0);
  });

  it('works over a pseudo-terminal with serialport (socat)', async () => {
    expect(hasSocat()).toBe(true);
    const { sim, driver, last } = await setup({ transport: 'pty', advancedOk: true });
    expect(sim.ptyPath).toMatch(/host$/);
    await driver.startJob(jobRequest(writeGcode(segments(100)), '2'));
    await until(() => last().lastJob?.outcome === 'finished', 10_000, 'finish over pty');
    expect(sim.commandLog.filter((c) => c.startsWith('G1 X'))).toHaveLength(100);
  });
});

describe('Marlin timeouts and polling (injected clock)', () => {
  it('a board that goes silent exhausts the timeouts: job failed, then reconnect', async () => {
    const { FakeClock } = await import('../../src/util/clock.ts');
    const clock = new FakeClock();
    const sim = new MarlinSimulator({ baudRate: 250000, timeScale: 0.001 });
    await sim.start();
    const h = makeCtx({ url: sim.url, okTimeoutMs: 10_000, maxConsecutiveTimeouts: 2 }, clock);
    const driver = new MarlinDriver(h.ctx);
    cleanup.push(async () => {
      await driver.stop();
      await sim.stop();
    });
    await driver.start();
    await until(() => h.last()?.status === 'idle', 10_000, 'idle');
    await driver.startJob(jobRequest(writeGcode(segments(2000)), '66'));
    await until(() => sim.commandLog.length > 20, 10_000, 'printing');
    sim.goSilent();
    await new Promise((r) => setTimeout(r, 30));
    for (let i = 0; i < 3; i++) {
      clock.advance(10_001);
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => h.last().lastJob?.outcome === 'failed', 5000, 'job failed');
    expect(h.last().status).toBe('connecting');
    expect(h.last().connectionNote).toMatch(/timeouts/);
    clock.advance(1000); // reconnect backoff
    await until(() => h.last().status === 'idle' && sim.connections === 2, 10_000, 'reconnected');
  });

  it('without AUTOREPORT_TEMP the driver polls M105 every 5 s, also while printing', async () => {
    const { FakeClock } = await import('../../src/util/clock.ts');
    const clock = new FakeClock();
    const sim = new MarlinSimulator({ baudRate: 250000, timeScale: 0.05, autoreportTemp: false });
    await sim.start();
    const h = makeCtx({ url: sim.url }, clock);
    const driver = new MarlinDriver(h.ctx);
    cleanup.push(async () => {
      await driver.stop();
      await sim.stop();
    });
    await driver.start();
    await until(() => h.last()?.status === 'idle', 10_000, 'idle');
    expect(sim.commandLog).not.toContain('M155 S2');
    await driver.startJob(jobRequest(writeGcode(segments(3000)), '1'));
    const before = sim.commandLog.filter((c) => c === 'M105').length;
    clock.advance(5000);
    await until(() => sim.commandLog.filter((c) => c === 'M105').length === before + 1, 5000, 'M105 poll');
    expect(h.last().status).toBe('printing');
  });

  it('long-running commands (M109) do not count as communication timeouts', async () => {
    const { FakeClock } = await import('../../src/util/clock.ts');
    const clock = new FakeClock();
    const sim = new MarlinSimulator({ baudRate: 250000, timeScale: 1, busyIntervalMs: 60_000 });
    await sim.start();
    const h = makeCtx({ url: sim.url, okTimeoutMs: 1000 }, clock);
    const driver = new MarlinDriver(h.ctx);
    cleanup.push(async () => {
      await driver.stop();
      await sim.stop();
    });
    await driver.start();
    await until(() => h.last()?.status === 'idle', 10_000, 'idle');
    const heating = driver.sendGcode(['M109 S200']); // ~18 s of real heating: never finishes here
    await until(() => sim.commandLog.includes('M109 S200'), 5000, 'M109 sent');
    clock.advance(5000);
    expect(driver.sender!.stats.timeouts).toBe(0);
    expect(driver.sender!.inFlight).toBe(1);
    heating.catch(() => {});
  });
});
