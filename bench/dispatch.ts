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
 * 3. Gate-open -> start command on the wire: the real server (startServer, SQLite) and a Bambu
 *    simulator over TLS MQTT/FTPS, the file already on the printer. Each sample: the simulator
 *    finishes the running copy (cooldown 0, so the FINISH report opens the gate) and the sample ends
 *    when the simulator's broker receives `project_file`. Two figures: from the server's handling of
 *    the FINISH report (gate open) and from the simulator publishing it (adds the report's trip).
 *    Goal: p99 < 50 ms. The figure is split into the queue's part (up to driver.startJob) and the
 *    driver's: a fresh FTPS session (TLS, login, FEAT...) for the `SIZE` check of the file on the
 *    printer, then the MQTT publish. Both ends run in this one process on loopback.
 *
 *   npx tsx bench/dispatch.ts [--items 10000] [--printers 2000] [--rounds 50] [--dispatches 200] [--wire 50]
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
import { BambuSimulator } from '../packages/simulators/src/bambu/index.ts';
import { startServer } from '../packages/server/src/main.ts';
import { systemClock } from '../packages/server/src/util/clock.ts';
import { silentLogger } from '../packages/server/src/util/logger.ts';
import { arg } from './_cli.ts';
import { percentile } from './_proc.ts';

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

const WIRE_FIXTURE = path.join(
  path.dirname(new URL(import.meta.url).pathname),
  '../packages/server/test/e2e/fixtures/fdm-monster.bambu.gcode.3mf',
);

async function until(what: string, fn: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function benchWire(dispatches: number): Promise<void> {
  const warmup = 3;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-wire-'));
  const server = await startServer({
    env: {},
    config: { dataDir, port: 0, host: '127.0.0.1', mqttPort: 0, demo: false, logLevel: 'silent', databaseUrl: null },
    logger: silentLogger(),
    webDist: null,
  });
  // Real time: a copy would take 1095 s, so every copy ends only when the bench says so.
  const sim = new BambuSimulator({ model: 'A1 mini', timeScale: 1, prepareSeconds: 1 });
  await sim.start();
  try {
    const api = async (method: string, url: string, body?: unknown, token?: string) => {
      const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
      if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json';
      const res = await fetch(server.url + url, {
        method,
        headers,
        body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json().catch(() => null)) as any };
    };
    const creds = { username: 'bench', password: 'bench-password-1' };
    await api('POST', '/api/v1/setup', creds);
    const token = (await api('POST', '/api/v1/auth/login', creds)).body.accessToken as string;
    const added = await api(
      'POST',
      '/api/v1/printers',
      {
        name: 'bench-a1mini',
        driver: 'bambu',
        model: 'A1 mini',
        connection: sim.connectionInfo(),
        settings: { swapCooldownSeconds: 0 },
      },
      token,
    );
    if (added.status !== 201) throw new Error(`bench: add printer ${added.status} ${JSON.stringify(added.body)}`);
    const printerId = added.body.id as string;
    await until('printer idle', () => server.fleet.get(printerId)?.state.status === 'idle');
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(fs.readFileSync(WIRE_FIXTURE))]), 'bench.gcode.3mf');
    const file = await api('POST', '/api/v1/files', form, token);
    if (file.status !== 201) throw new Error(`bench: upload ${file.status}`);

    let sentAt = 0;
    let gateOpenAt = 0;
    let expectFinishOf: string | null = null;
    sim.on('command', (c: any) => {
      if (c.print?.command === 'project_file') sentAt = performance.now();
    });
    server.infra.bus.on('printer.state', {}, ({ printerId: id, state }) => {
      // The first report showing the running copy's end is what opens the gate (cooldown 0).
      if (id === printerId && expectFinishOf && state.lastJob?.jobId === expectFinishOf) {
        gateOpenAt = performance.now();
        expectFinishOf = null;
      }
    });
    // Split the figure: queue work (record the finish, decide, write `starting`) vs the driver
    // (FTPS session + SIZE check of the file on the printer, then the MQTT publish).
    const driver = server.fleet.get(printerId)!.driver;
    const startJob = driver.startJob.bind(driver);
    let calledAt = 0;
    driver.startJob = (req) => {
      calledAt = performance.now();
      return startJob(req);
    };
    const activeJob = () => (sim.gcodeState === 'PREPARE' || sim.gcodeState === 'RUNNING' ? sim.status.subtask_id : null);

    const total = dispatches + warmup;
    await api('POST', '/api/v1/queue', { fileId: file.body.id, copies: total + 1 }, token);
    // The first copy uploads the file; every later one finds it on the printer.
    await until('first copy started', () => activeJob() !== null && sentAt > 0);
    const fromGate: number[] = [];
    const fromFinish: number[] = [];
    const toStartJob: number[] = [];
    const inDriver: number[] = [];
    for (let k = 0; k < total; k++) {
      const running = activeJob()!;
      // Let the server record the confirmed start before the copy ends.
      await until('start confirmed', () => server.queue.getQueue().items[0]?.activePrinterIds.length === 1);
      await server.queue.whenIdle();
      await new Promise((r) => setTimeout(r, 20));
      sentAt = 0;
      gateOpenAt = 0;
      expectFinishOf = running;
      const finishedAt = performance.now();
      sim.finishNow();
      await until('next start command', () => sentAt > 0 && activeJob() !== null && activeJob() !== running);
      if (k >= warmup) {
        toStartJob.push(calledAt - gateOpenAt);
        inDriver.push(sentAt - calledAt);
        fromGate.push(sentAt - gateOpenAt);
        fromFinish.push(sentAt - finishedAt);
      }
    }
    const starts = sim.receivedCommands.filter((c) => c.print?.command === 'project_file').length;
    const uploads = sim.files().filter((f) => f.name.endsWith('.3mf')).length;
    console.log(
      `wire: real server + Bambu simulator over TLS, file on the printer (${starts} starts, ${uploads} upload)`,
    );
    report('  gate open (FINISH handled) to project_file at the printer', fromGate);
    report('  printer FINISH published to project_file at the printer', fromFinish);
    report('    of which gate open to driver.startJob (queue)', toStartJob);
    report('    of which driver.startJob to project_file (FTPS SIZE check + MQTT)', inDriver);
  } finally {
    await server.close();
    await sim.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<void> {
  benchScheduler(arg(args, 'items', 10_000), arg(args, 'printers', 2_000), arg(args, 'rounds', 50));
  await benchDispatch(arg(args, 'dispatches', 200));
  await benchWire(arg(args, 'wire', 50));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run(process.argv.slice(2));
}
