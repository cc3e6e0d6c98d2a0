/**
 * Queue dispatch benchmark.
 *
 * 1. Scheduler decision round: 10,000 queued items x 2,000 printers (mixed models and nozzles, a
 *    share of closed gates, some items with explicit printers). Goal: < 20 ms per round; the
 *    scheduler is O(items + printers). The ETA over the same queue is timed too.
 * 2. Gate-open -> driver.startJob: the QueueService on a real SQLite file with a test-double driver.
 *    Each sample starts when the printer reports the previous copy finished (cooldown 0, so the
 *    gate opens on that report) and ends when startJob is called: it covers recording the finish
 *    (one transaction), the decision round and writing the job as `starting` (one transaction).
 *
 *   npx tsx bench/dispatch.ts [--items 10000] [--printers 2000] [--rounds 50] [--dispatches 200]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { EventBus } from '../packages/server/src/events/bus.ts';
import type { FileRecord, LibraryView } from '../packages/server/src/library/types.ts';
import type { PrinterDriver, StartJobRequest } from '../packages/server/src/printers/driver.ts';
import type { FleetPrinter, FleetView } from '../packages/server/src/printers/fleet-types.ts';
import {
  type PrinterState,
  defaultPrinterSettings,
  initialPrinterState,
} from '../packages/server/src/printers/model.ts';
import { type EtaItem, type EtaPrinter, estimateQueue } from '../packages/server/src/queue/eta.ts';
import { noFlags } from '../packages/server/src/queue/gatekeeper.ts';
import { QueueService } from '../packages/server/src/queue/queue-service.ts';
import { type SchedulerItem, type SchedulerPrinter, schedule } from '../packages/server/src/queue/scheduler.ts';
import { openStorage } from '../packages/server/src/storage/db.ts';
import { systemClock } from '../packages/server/src/util/clock.ts';
import { silentLogger } from '../packages/server/src/util/logger.ts';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(label: string, samples: number[]): void {
  const s = [...samples].sort((a, b) => a - b);
  console.log(
    `${label}: p50 ${percentile(s, 50).toFixed(2)} ms, p99 ${percentile(s, 99).toFixed(2)} ms, max ${s.at(-1)!.toFixed(2)} ms (n=${s.length})`,
  );
}

const MODELS = ['A1 mini', 'A1', 'P1S', 'X1C'];

function schedulerWorld(itemCount: number, printerCount: number, now: number) {
  const printers: SchedulerPrinter[] = Array.from({ length: printerCount }, (_, i) => ({
    id: `p${i}`,
    fit: { model: MODELS[i % MODELS.length]!, nozzleDiameter: i % 10 === 0 ? 0.6 : 0.4 },
    gate: {
      enabled: true,
      // About a third busy, a few in cooldown: a realistic mix of open and closed gates.
      state: {
        status: i % 3 === 0 ? 'printing' : 'idle',
        fullStatus: true,
        stale: false,
        error: null,
        lastJob: i % 7 === 0 ? { jobId: '1', outcome: 'finished', at: now - 10_000 } : null,
      },
      settings: { swapCooldownSeconds: 90, requirePlateClear: false },
      flags: noFlags,
    },
  }));
  const items: SchedulerItem[] = Array.from({ length: itemCount }, (_, i) => ({
    id: `i${i}`,
    fit: { model: MODELS[(i * 7) % MODELS.length]!, nozzleDiameter: i % 13 === 0 ? 0.6 : 0.4 },
    printerIds: i % 50 === 0 ? [`p${i % printerCount}`, `p${(i * 3) % printerCount}`] : null,
    toStart: 1 + (i % 4),
  }));
  return { printers, items };
}

function benchScheduler(itemCount: number, printerCount: number, rounds: number): void {
  const now = Date.now();
  const { printers, items } = schedulerWorld(itemCount, printerCount, now);
  const times: number[] = [];
  let assigned = 0;
  for (let r = 0; r < rounds + 5; r++) {
    const t0 = performance.now();
    const res = schedule({ running: true, items, printers }, now);
    const dt = performance.now() - t0;
    if (r >= 5) times.push(dt); // the first rounds warm up the JIT
    assigned = res.assignments.length;
  }
  console.log(`scheduler: ${itemCount} items x ${printerCount} printers, ${assigned} assignments per round`);
  report('  decision round', times);

  const etaItems: EtaItem[] = items.map((i) => ({
    id: i.id,
    fit: i.fit,
    printerIds: i.printerIds,
    estimatedSeconds: 1800,
    waitingCopies: i.toStart,
    active: [],
  }));
  const etaPrinters: EtaPrinter[] = printers.map((p) => ({ id: p.id, fit: p.fit, freeAt: now, cooldownSeconds: 90 }));
  const etaTimes: number[] = [];
  for (let r = 0; r < Math.max(5, Math.floor(rounds / 5)) + 2; r++) {
    const t0 = performance.now();
    estimateQueue({ items: etaItems, printers: etaPrinters }, now);
    if (r >= 2) etaTimes.push(performance.now() - t0);
  }
  report('  ETA (whole queue)', etaTimes);
}

/** A driver double that confirms at once and tells the bench when startJob was called. */
class BenchDriver implements PrinterDriver {
  onStart: (req: StartJobRequest) => void = () => {};
  async start() {}
  async stop() {}
  getState(): PrinterState {
    return initialPrinterState();
  }
  async startJob(req: StartJobRequest) {
    this.onStart(req);
  }
  async pause() {}
  async resume() {}
  async cancel() {}
  async sendGcode() {}
  async snapshot() {
    return null;
  }
}

async function benchDispatch(dispatches: number): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-dispatch-'));
  const storage = await openStorage({ dataDir });
  const bus = new EventBus();
  const driver = new BenchDriver();
  const printer: FleetPrinter = {
    summary: {
      id: 'p1',
      name: 'bench',
      driver: 'bench',
      model: 'A1 mini',
      enabled: true,
      settings: { ...defaultPrinterSettings, swapCooldownSeconds: 0, nozzleDiameter: 0.4 },
    },
    driver,
    state: { ...initialPrinterState(), status: 'printing', fullStatus: true },
  };
  const fleet: FleetView = { list: () => [printer], get: (id) => (id === 'p1' ? printer : undefined) };
  const file: FileRecord = {
    id: 'f1',
    name: 'bench.gcode.3mf',
    size: 1,
    sha256: '',
    md5: '',
    uploadedAt: new Date().toISOString(),
    kind: '3mf',
    printerModel: 'A1 mini',
    nozzleDiameter: 0.4,
    plates: [
      {
        index: 1,
        gcodePath: 'Metadata/plate_1.gcode',
        gcodeMd5: null,
        estimatedSeconds: 60,
        weightGrams: null,
        filaments: [],
        layerCount: null,
        printerModel: null,
        nozzleDiameter: null,
        hasThumbnail: false,
        thumbnailUrl: null,
      },
    ],
  };
  const library: LibraryView = {
    getFile: async (id) => (id === 'f1' ? file : undefined),
    localPath: () => '/dev/null',
  };
  const queue = new QueueService({
    db: storage.db,
    bus,
    clock: systemClock,
    logger: silentLogger(),
    fleet,
    library,
    tickMs: 60_000,
  });
  await queue.start();
  await queue.addItem({ fileId: 'f1', copies: dispatches + 5 });
  const setState = (patch: Partial<PrinterState>) => {
    printer.state = { ...printer.state, ...patch };
    bus.emit('printer.state', { printerId: 'p1', state: printer.state });
  };
  const times: number[] = [];
  let gateOpenedAt = 0;
  let lastJobId: string | null = null;
  const started = () => new Promise<StartJobRequest>((resolve) => (driver.onStart = resolve));
  let next = started();
  gateOpenedAt = performance.now();
  setState({ status: 'idle' });
  for (let k = 0; k < dispatches + 5; k++) {
    const req = await next;
    const dt = performance.now() - gateOpenedAt;
    if (k >= 5) times.push(dt);
    lastJobId = req.jobId;
    await queue.whenIdle();
    setState({ status: 'printing', job: { jobId: lastJobId, fileName: file.name, plate: 1 } });
    next = started();
    gateOpenedAt = performance.now();
    setState({ status: 'idle', job: null, lastJob: { jobId: lastJobId, outcome: 'finished', at: Date.now() } });
  }
  console.log(`dispatch: finish report (gate opens) -> driver.startJob, SQLite (synchronous=FULL) in ${dataDir}`);
  report('  gate-open to startJob', times);
  await queue.stop();
  await storage.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

export async function run(args: string[]): Promise<void> {
  benchScheduler(arg(args, 'items', 10_000), arg(args, 'printers', 2_000), arg(args, 'rounds', 50));
  await benchDispatch(arg(args, 'dispatches', 200));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run(process.argv.slice(2));
}
