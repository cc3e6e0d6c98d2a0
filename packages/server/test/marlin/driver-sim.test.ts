import { MarlinSimulator } from '@rwc/simulators/marlin/index.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { MarlinDriver } from '../../src/printers/marlin/driver.ts';
import { FakeClock } from '../../src/util/clock.ts';
import { jobRequest, makeCtx, segments, until, writeGcode } from './helpers.ts';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function setup(simOpts: ConstructorParameters<typeof MarlinSimulator>[0] = {}, conn: Record<string, unknown> = {}) {
  const sim = new MarlinSimulator({ baudRate: 250000, timeScale: 0.001, ...simOpts });
  await sim.start();
  const h = makeCtx({ url: sim.url, ...conn });
  const driver = new MarlinDriver(h.ctx);
  cleanup.push(async () => {
    await driver.stop();
    await sim.stop();
  });
  await driver.start();
  await until(() => h.last()?.status === 'idle', 10_000, 'idle');
  return { sim, driver, ...h };
}

describe('Marlin driver against the simulator', () => {
  it('handshakes: M110, M115 capabilities, autoreport, temperatures', async () => {
    const { sim, driver, last } = await setup();
    expect(last().fullStatus).toBe(true);
    expect(driver.capabilities.get('AUTOREPORT_TEMP')).toBe(true);
    expect(driver.firmware.FIRMWARE_NAME).toContain('Marlin');
    expect(sim.commandLog).toContain('M155 S2');
    expect(last().temperatures.nozzle).toEqual({ actual: 21.3, target: 0 });
    await driver.sendGcode(['M104 S200 ; heat', 'M105']);
    await until(() => last().temperatures.nozzle?.target === 200, 5000, 'target 200');
  });

  it('streams a full small print and ends idle with lastJob finished', async () => {
    const { sim, driver, states, last } = await setup();
    const file = writeGcode(segments(120, { comments: true }));
    await driver.startJob(jobRequest(file, '4242'));
    expect(last().status).toBe('printing');
    await until(() => last().status === 'idle', 20_000, 'print end');
    expect(last().lastJob).toMatchObject({ jobId: '4242', outcome: 'finished' });
    expect(last().progress).toBe(100);
    expect(states.some((s) => s.status === 'printing' && (s.progress ?? 0) > 30 && (s.progress ?? 0) < 90)).toBe(true);
    const moves = sim.commandLog.filter((c) => c.startsWith('G1 X'));
    expect(moves).toHaveLength(120);
    expect(sim.commandLog.some((c) => c.startsWith(';') || c === '')).toBe(false);
    expect(driver.sender!.stats.maxInFlight).toBe(1);
  });

  it('keeps several lines in flight once the firmware shows ADVANCED_OK', async () => {
    const { sim, driver, last } = await setup({ advancedOk: true, bufferSize: 8 });
    const file = writeGcode(segments(300));
    await driver.startJob(jobRequest(file));
    await until(() => last().lastJob?.outcome === 'finished', 20_000, 'finish');
    expect(driver.sender!.advancedOk).toBe(true);
    expect(driver.sender!.stats.maxInFlight).toBeGreaterThan(2);
    expect(driver.sender!.stats.maxInFlight).toBeLessThanOrEqual(16);
    expect(sim.commandLog.filter((c) => c.startsWith('G1 X'))).toHaveLength(300);
    expect(sim.firmware!.stats.bytesDropped).toBe(0);
  });

  it('a garbled line makes the printer ask for a resend, which is replayed from history', async () => {
    const { sim, driver, last } = await setup({ advancedOk: true, bufferSize: 6 });
    const file = writeGcode(segments(200));
    await driver.startJob(jobRequest(file));
    await until(() => sim.commandLog.length > 60, 10_000, 'some lines');
    sim.garbleNextLine();
    await until(() => sim.commandLog.length > 120, 10_000, 'more lines');
    sim.garbleNextLine();
    await until(() => last().lastJob?.outcome === 'finished', 20_000, 'finish');
    expect(sim.firmware!.stats.resendsRequested).toBeGreaterThanOrEqual(2);
    expect(driver.sender!.stats.resends).toBeGreaterThanOrEqual(2);
    const moves = sim.commandLog.filter((c) => c.startsWith('G1 X'));
    expect(moves).toHaveLength(200); // nothing lost, nothing doubled
    expect(new Set(moves).size).toBe(200);
  });

  it('random line noise still prints every line exactly once', async () => {
    const { sim, driver, last } = await setup();
    sim.setLineNoise(0.1);
    const file = writeGcode(segments(150));
    await driver.startJob(jobRequest(file));
    await until(() => last().lastJob?.outcome === 'finished', 20_000, 'finish');
    const moves = sim.commandLog.filter((c) => c.startsWith('G1 X'));
    expect(new Set(moves).size).toBe(150);
    expect(moves).toHaveLength(150);
    expect(sim.firmware!.stats.resendsRequested).toBeGreaterThan(3);
  });

  for (const flushRxOnResend of [false, true]) {
    it(`ADVANCED_OK with line noise (~1 in 100 lines${flushRxOnResend ? ', RX flushed on resend' : ''}): resend storms never fail the job; every line once, in order`, async () => {
      const { sim, driver, last } = await setup({ advancedOk: true, bufferSize: 16, flushRxOnResend });
      sim.setLineNoise(0.01);
      const lines = segments(3000);
      await driver.startJob(jobRequest(writeGcode(lines)));
      const logs: string[] = [];
      driver['ctx'].bus.on('printer.log', logs, (l: any) => logs.push(`${l.kind}: ${l.message}`));
      await until(() => !!last().lastJob, 60_000, 'job end');
      expect(last().lastJob?.outcome, logs.slice(-5).join('\n')).toBe('finished');
      const moves = sim.commandLog.filter((c) => c.startsWith('G1 X'));
      expect(moves).toEqual(lines.filter((l) => l.startsWith('G1 X')));
      expect(sim.firmware!.stats.resendsRequested).toBeGreaterThan(10);
      // Several lines were in flight, so storms (echoes of one bad line) happened and were swallowed.
      expect(driver.sender!.stats.maxInFlight).toBeGreaterThan(4);
      if (!flushRxOnResend) expect(driver.sender!.stats.resendEchoes).toBeGreaterThan(0);
    }, 90_000);
  }

  it('a missing ok times out (injected clock), tickles with M105 and the print recovers', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const sim = new MarlinSimulator({ baudRate: 250000, timeScale: 0.001 });
    await sim.start();
    const h = makeCtx({ url: sim.url, okTimeoutMs: 30_000 }, clock);
    const driver = new MarlinDriver(h.ctx);
    cleanup.push(async () => {
      await driver.stop();
      await sim.stop();
    });
    await driver.start();
    await until(() => h.last()?.status === 'idle', 10_000, 'idle');
    const file = writeGcode(segments(80));
    await driver.startJob(jobRequest(file, '5'));
    await until(() => sim.commandLog.length > 20, 10_000, 'printing');
    sim.dropNextOk();
    // Once the ok is gone the stream stalls for sure: one line in flight, waiting for it.
    await until(() => sim.firmware!.faults.dropNextOk === 0, 10_000, 'ok dropped');
    await new Promise((r) => setTimeout(r, 50));
    const stalledAt = sim.commandLog.length;
    expect(driver.sender!.inFlight).toBe(1);
    expect(h.last().status).toBe('printing');
    expect(h.last().lastJob).toBeNull();
    expect(sim.commandLog.length).toBe(stalledAt);
    clock.advance(30_001);
    await until(() => h.last().lastJob?.outcome === 'finished', 10_000, 'finish after recovery');
    expect(driver.sender!.stats.timeouts).toBe(1);
    expect(sim.commandLog).toContain('M105');
    expect(sim.commandLog.filter((c) => c.startsWith('G1 X'))).toHaveLength(80);
    expect(h.last().status).toBe('idle');
  });

  it('with ADVANCED_OK a lost ok heals itself from the next ok line number (no timeout needed)', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const sim = new MarlinSimulator({ baudRate: 250000, timeScale: 0.001, advancedOk: true, bufferSize: 8 });
    await sim.start();
    const h = makeCtx({ url: sim.url }, clock);
    const driver = new MarlinDriver(h.ctx);
    cleanup.push(async () => {
      await driver.stop();
      await sim.stop();
    });
    await driver.start();
    await until(() => h.last()?.status === 'idle', 10_000, 'idle');
    await driver.startJob(jobRequest(writeGcode(segments(300)), '15'));
    await until(() => sim.commandLog.length > 50, 10_000, 'printing');
    sim.dropNextOk(3);
    await until(() => h.last().lastJob?.outcome === 'finished', 10_000, 'finish');
    expect(driver.sender!.stats.timeouts).toBe(0);
    expect(sim.firmware!.faults.dropNextOk).toBe(0);
  });

  it('a fatal firmware error puts the printer in error and sends M112', async () => {
    const { sim, driver, last } = await setup();
    const file = writeGcode(segments(400));
    await driver.startJob(jobRequest(file, '77'));
    await until(() => sim.commandLog.length > 30, 10_000, 'printing');
    const log = sim.firmware!;
    sim.emitFatal('thermal');
    await until(() => last().status === 'error', 5000, 'error');
    expect(last().error?.message).toMatch(/Thermal Runaway/);
    // The error is shown first, then the job is closed (after its file is closed): wait for that.
    await until(() => last().lastJob !== null, 5000, 'job closed');
    expect(last().lastJob).toMatchObject({ jobId: '77', outcome: 'failed' });
    expect(log.dead).toBe(true);
    await expect(driver.startJob(jobRequest(file))).rejects.toThrow(/not_connected|error/);
    // The user acknowledges: the driver reconnects (a new connection power-cycles the sim).
    await driver.clearError();
    await until(() => last().status === 'idle', 10_000, 'idle again');
    expect(last().error).toBeNull();
  });

  it('reconnects when the serial bridge drops, failing the running job', async () => {
    const { sim, driver, last } = await setup();
    const file = writeGcode(segments(2000));
    await driver.startJob(jobRequest(file, '9'));
    await until(() => sim.commandLog.length > 20, 10_000, 'printing');
    sim.disconnect();
    await until(() => last().lastJob?.outcome === 'failed', 5000, 'job failed');
    await until(() => last().status === 'idle' && sim.connections === 2, 10_000, 'reconnected');
  });
});
