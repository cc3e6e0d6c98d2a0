import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BambuSimOptions, BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { EventBus, type DomainEvents } from '../../src/events/bus.ts';
import type { DriverContext, StartJobRequest } from '../../src/printers/driver.ts';
import { defaultPrinterSettings, type PrinterState } from '../../src/printers/model.ts';
import { BambuDriver, type BambuDriverOptions } from '../../src/printers/bambu/driver.ts';
import { type Clock, systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import path from 'node:path';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';

export const FIXTURE_3MF = path.join(BAMBU_FIXTURES, 'fdm-monster.bambu.gcode.3mf');

export interface Rig {
  sim: BambuSimulator;
  driver: BambuDriver;
  states: PrinterState[];
  logs: DomainEvents['printer.log'][];
  dataDir: string;
  ctx: DriverContext;
  close(): Promise<void>;
}

export async function startRig(
  opts: {
    sim?: BambuSimOptions;
    driver?: BambuDriverOptions;
    connection?: Record<string, unknown>;
    clock?: Clock;
    model?: string | null;
    /** false: the driver is created but not started. */
    start?: boolean;
  } = {},
): Promise<Rig> {
  const sim = new BambuSimulator({ reportIntervalMs: 100, timeScale: 10, ...opts.sim });
  await sim.start();
  const states: PrinterState[] = [];
  const logs: DomainEvents['printer.log'][] = [];
  const bus = new EventBus();
  bus.on('printer.log', logs, (d) => logs.push(d));
  const dataDir = mkdtempSync(join(tmpdir(), 'rwc-bambu-driver-'));
  const ctx: DriverContext = {
    printerId: 'p1',
    printerName: 'A1-01',
    model: opts.model === undefined ? sim.model : opts.model,
    connection: {
      ...sim.connectionInfo(),
      ...opts.connection,
    },
    settings: defaultPrinterSettings,
    clock: opts.clock ?? systemClock,
    logger: silentLogger(),
    bus,
    dataDir,
    onState: (s) => states.push(s),
  };
  const driver = new BambuDriver(ctx, { commandTimeoutMs: 5_000, ...opts.driver });
  if (opts.start !== false) await driver.start();
  return {
    sim,
    driver,
    states,
    logs,
    dataDir,
    ctx,
    async close() {
      await driver.stop();
      await sim.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(fn: () => T | undefined | null | false, what: string, timeoutMs = 8_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const waitForStatus = (rig: Rig, status: PrinterState['status'], timeoutMs?: number) =>
  waitFor(() => rig.driver.getState().status === status && rig.driver.getState(), `status ${status}`, timeoutMs);

/** A copy of the real A1 mini .gcode.3mf under a chosen name, with its request. */
export function jobRequest(
  rig: Rig,
  jobId: string,
  fileName = 'cube.gcode.3mf',
): StartJobRequest & { progress: number[] } {
  const localPath = join(rig.dataDir, `local-${fileName}`);
  copyFileSync(FIXTURE_3MF, localPath);
  const progress: number[] = [];
  return {
    jobId,
    localPath,
    fileName,
    fileSize: statSync(localPath).size,
    fileMd5: createHash('md5').update(readFileSync(localPath)).digest('hex'),
    plate: 1,
    gcodePath: 'Metadata/plate_1.gcode',
    overrides: { bedLeveling: true, flowCalibration: false, timelapse: false },
    jobName: `job ${jobId}`,
    onUploadProgress: (sent) => progress.push(sent),
    progress,
  };
}

export const commandsNamed = (sim: BambuSimulator, name: string) =>
  sim.receivedCommands.filter((c) => Object.values(c).some((b: any) => b?.command === name));
