/**
 * Serial streaming bench: G-code lines per second pushed to the Marlin simulator over its
 * throttled wire (bytes/s = baud/10), one line in flight (OctoPrint's way) vs ADVANCED_OK send-ahead.
 * Usage: tsx bench/serial.ts [--lines N] [--buffer SLOTS] [--latency MS per direction, default 1 (USB-serial)]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MarlinSimulator } from '@rwc/simulators/marlin/index.ts';
import { EventBus } from '@rwc/server/events/bus.ts';
import type { PrinterState } from '@rwc/server/printers/model.ts';
import { defaultPrinterSettings } from '@rwc/server/printers/model.ts';
import { MarlinDriver } from '@rwc/server/printers/marlin/driver.ts';
import { systemClock } from '@rwc/server/util/clock.ts';
import { silentLogger } from '@rwc/server/util/logger.ts';

export interface SerialBenchResult {
  baud: number;
  mode: 'one-in-flight' | 'advanced-ok';
  lines: number;
  seconds: number;
  linesPerSecond: number;
  bytesPerSecond: number;
  /** Share of the wire's capacity (baud/10 bytes/s) actually used. */
  fractionOfLimit: number;
  maxInFlight: number;
  resends: number;
}

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** Short segments like a finely tessellated curve: ~0.3 mm each. */
function writeShortSegments(count: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-serial-'));
  const file = path.join(dir, 'segments.gcode');
  const lines = ['G90', 'M83'];
  for (let i = 0; i < count; i++) {
    const a = (i / 400) * Math.PI * 2;
    lines.push(`G1 X${(100 + 20 * Math.cos(a)).toFixed(3)} Y${(100 + 20 * Math.sin(a)).toFixed(3)} E0.01234`);
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function once(
  baud: number,
  advancedOk: boolean,
  file: string,
  lines: number,
  bufferSize: number,
  latencyMs: number,
): Promise<SerialBenchResult> {
  // timeScale 0: moves are instant, so only the wire and the protocol limit the rate.
  const sim = new MarlinSimulator({ baudRate: baud, advancedOk, bufferSize, timeScale: 0, latencyMs });
  await sim.start();
  let state: PrinterState | null = null;
  const driver = new MarlinDriver({
    printerId: 'bench',
    printerName: 'bench',
    model: null,
    connection: { url: sim.url },
    settings: { ...defaultPrinterSettings },
    clock: systemClock,
    logger: silentLogger(),
    bus: new EventBus(),
    dataDir: os.tmpdir(),
    onState: (s) => {
      state = s;
    },
  });
  const waitFor = async (pred: () => boolean) => {
    const start = Date.now();
    while (!pred()) {
      if (Date.now() - start > 120_000) throw new Error('bench timed out');
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  try {
    await driver.start();
    await waitFor(() => (state as PrinterState | null)?.status === 'idle');
    const bytesBefore = sim.firmware!.stats.bytesReceived;
    const t0 = performance.now();
    await driver.startJob({
      jobId: '1',
      localPath: file,
      fileName: 'segments.gcode',
      fileSize: fs.statSync(file).size,
      fileMd5: '',
      plate: 1,
      gcodePath: null,
      overrides: { bedLeveling: false, flowCalibration: false, timelapse: false },
      jobName: 'bench',
    });
    await waitFor(() => (state as PrinterState | null)?.lastJob?.outcome === 'finished');
    const seconds = (performance.now() - t0) / 1000;
    const bytes = sim.firmware!.stats.bytesReceived - bytesBefore;
    return {
      baud,
      mode: advancedOk ? 'advanced-ok' : 'one-in-flight',
      lines,
      seconds,
      linesPerSecond: lines / seconds,
      bytesPerSecond: bytes / seconds,
      fractionOfLimit: bytes / seconds / (baud / 10),
      maxInFlight: driver.sender?.stats.maxInFlight ?? 0,
      resends: driver.sender?.stats.resends ?? 0,
    };
  } finally {
    await driver.stop();
    await sim.stop();
  }
}

export async function run(args: string[]): Promise<SerialBenchResult[]> {
  const lines = arg(args, '--lines', 3000);
  const bufferSize = arg(args, '--buffer', 4);
  const latencyMs = arg(args, '--latency', 1);
  const file = writeShortSegments(lines);
  const results: SerialBenchResult[] = [];
  console.log(`serial bench: ${lines} short G1 segments, simulator BUFSIZE ${bufferSize}, wire = baud/10 bytes/s, ${latencyMs} ms latency each way`);
  console.log('baud    mode           lines/s   bytes/s   of limit  max in flight  resends');
  for (const baud of [115200, 250000]) {
    for (const advancedOk of [false, true]) {
      const r = await once(baud, advancedOk, file, lines + 2, bufferSize, latencyMs);
      results.push(r);
      console.log(
        `${String(baud).padEnd(7)} ${r.mode.padEnd(14)} ${r.linesPerSecond.toFixed(0).padStart(7)} ${r.bytesPerSecond
          .toFixed(0)
          .padStart(9)} ${(r.fractionOfLimit * 100).toFixed(1).padStart(8)}%  ${String(r.maxInFlight).padEnd(13)}  ${r.resends}`,
      );
    }
  }
  const adv = results.filter((r) => r.mode === 'advanced-ok');
  const goal = adv.every((r) => r.fractionOfLimit >= 0.9);
  console.log(`goal (ADVANCED_OK >= 90% of the wire): ${goal ? 'met' : 'NOT met'}`);
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
