import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventBus } from '../../src/events/bus.ts';
import type { DriverContext, StartJobRequest } from '../../src/printers/driver.ts';
import { defaultPrinterSettings, type PrinterState } from '../../src/printers/model.ts';
import { type Clock, systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

export function makeCtx(connection: Record<string, unknown>, clock: Clock = systemClock) {
  const states: PrinterState[] = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-drv-'));
  const ctx: DriverContext = {
    printerId: 'p1',
    printerName: 'Test',
    model: null,
    connection,
    settings: { ...defaultPrinterSettings },
    clock,
    logger: silentLogger(),
    bus: new EventBus(),
    dataDir,
    onState: (s) => states.push(s),
  };
  return { ctx, states, last: () => states[states.length - 1] };
}

/** Polls until the predicate holds (real sockets need real time; no fixed sleeps). */
export async function until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function writeGcode(lines: string[]): { path: string; size: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-gcode-'));
  const file = path.join(dir, 'job.gcode');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return { path: file, size: fs.statSync(file).size };
}

export function segments(count: number, opts: { comments?: boolean } = {}): string[] {
  const out = ['; generated test print', 'G28', 'G90', 'M83', 'G1 Z0.2 F3000'];
  for (let i = 0; i < count; i++) {
    const a = (i / count) * Math.PI * 2;
    out.push(`G1 X${(100 + 20 * Math.cos(a)).toFixed(3)} Y${(100 + 20 * Math.sin(a)).toFixed(3)} E0.0123 F3000`);
    if (opts.comments && i % 10 === 0) out.push('', `;LAYER:${i / 10}`);
  }
  out.push('M73 P100 R0', 'M400');
  return out;
}

export function jobRequest(file: { path: string; size: number }, jobId = '101'): StartJobRequest {
  return {
    jobId,
    localPath: file.path,
    fileName: 'job.gcode',
    fileSize: file.size,
    fileMd5: '',
    plate: 1,
    gcodePath: null,
    overrides: { bedLeveling: false, flowCalibration: false, timelapse: false },
    jobName: 'job',
  };
}
