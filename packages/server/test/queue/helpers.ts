/**
 * Test doubles for the queue's service layer: an in-process FleetView whose drivers implement
 * PrinterDriver, a LibraryView over fixed records, and a real SQLite file in a temp data dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DomainEvent, EventBus, type EventType } from '../../src/events/bus.ts';
import type { FileRecord, LibraryView } from '../../src/library/types.ts';
import type { PrinterDriver, StartJobRequest } from '../../src/printers/driver.ts';
import type { FleetPrinter, FleetView } from '../../src/printers/fleet-types.ts';
import {
  type PrinterSettings,
  type PrinterState,
  defaultPrinterSettings,
  initialPrinterState,
} from '../../src/printers/model.ts';
import { QueueService } from '../../src/queue/queue-service.ts';
import { type Storage, openStorage } from '../../src/storage/db.ts';
import { FakeClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

export type StartBehaviour = 'confirm' | 'manual' | ((req: StartJobRequest) => Promise<void>);

export class FakeDriver implements PrinterDriver {
  starts: StartJobRequest[] = [];
  cancels = 0;
  behaviour: StartBehaviour = 'confirm';
  /** Called synchronously when startJob is entered (to look at the database at that moment). */
  onStart: ((req: StartJobRequest) => void) | null = null;
  #pending: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(
    readonly fleet: FakeFleet,
    readonly id: string,
  ) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  getState(): PrinterState {
    return this.fleet.get(this.id)!.state;
  }
  startJob(req: StartJobRequest): Promise<void> {
    this.starts.push(req);
    this.onStart?.(req);
    if (this.behaviour === 'confirm') return Promise.resolve();
    if (this.behaviour === 'manual') return new Promise((resolve, reject) => this.#pending.push({ resolve, reject }));
    return this.behaviour(req);
  }
  /** Settles the oldest pending manual start. */
  settleStart(err?: Error): void {
    const p = this.#pending.shift();
    if (!p) throw new Error('no pending start');
    if (err) p.reject(err);
    else p.resolve();
  }
  async pause(): Promise<void> {}
  async resume(): Promise<void> {}
  async cancel(): Promise<void> {
    this.cancels++;
  }
  async sendGcode(): Promise<void> {}
  async snapshot(): Promise<Buffer | null> {
    return null;
  }
}

export const readyState = (over: Partial<PrinterState> = {}): PrinterState => ({
  ...initialPrinterState(),
  status: 'idle',
  fullStatus: true,
  updatedAt: 0,
  ...over,
});

export class FakeFleet implements FleetView {
  printers = new Map<string, FleetPrinter & { driver: FakeDriver }>();
  constructor(readonly bus: EventBus) {}

  add(
    id: string,
    opts: { model?: string | null; settings?: Partial<PrinterSettings>; state?: Partial<PrinterState> } = {},
  ): FakeDriver {
    const driver = new FakeDriver(this, id);
    this.printers.set(id, {
      summary: {
        id,
        name: `printer-${id}`,
        driver: 'fake',
        model: opts.model === undefined ? 'A1 mini' : opts.model,
        enabled: true,
        settings: { ...defaultPrinterSettings, nozzleDiameter: 0.4, ...opts.settings },
      },
      driver,
      state: readyState(opts.state),
    });
    return driver;
  }
  list(): FleetPrinter[] {
    return [...this.printers.values()];
  }
  get(id: string) {
    return this.printers.get(id);
  }
  driver(id: string): FakeDriver {
    return this.printers.get(id)!.driver;
  }
  /** Replaces the printer's state (merged) and emits printer.state like the real fleet. */
  setState(id: string, patch: Partial<PrinterState>): void {
    const p = this.printers.get(id)!;
    p.state = { ...p.state, ...patch };
    this.bus.emit('printer.state', { printerId: id, state: p.state });
  }
}

export function fileRecord(id: string, over: Partial<FileRecord> = {}, seconds = 600): FileRecord {
  return {
    id,
    name: `${id}.gcode.3mf`,
    size: 1234,
    sha256: 'ab'.repeat(32),
    md5: 'cd'.repeat(16),
    uploadedAt: '2026-01-01T00:00:00.000Z',
    kind: '3mf',
    printerModel: 'A1 mini',
    nozzleDiameter: 0.4,
    plates: [
      {
        index: 1,
        gcodePath: 'Metadata/plate_1.gcode',
        gcodeMd5: null,
        estimatedSeconds: seconds,
        weightGrams: 10,
        filaments: [],
        layerCount: 100,
        printerModel: 'A1 mini',
        nozzleDiameter: 0.4,
        hasThumbnail: true,
        thumbnailUrl: `/api/v1/files/${id}/plates/1/thumbnail`,
      },
    ],
    ...over,
  };
}

export class FakeLibrary implements LibraryView {
  files = new Map<string, FileRecord>();
  add(file: FileRecord): FileRecord {
    this.files.set(file.id, file);
    return file;
  }
  async getFile(id: string) {
    return this.files.get(id);
  }
  localPath(file: FileRecord): string {
    return `/data/files/${file.id}`;
  }
}

export interface Harness {
  dataDir: string;
  storage: Storage;
  bus: EventBus;
  clock: FakeClock;
  fleet: FakeFleet;
  library: FakeLibrary;
  queue: QueueService;
  events: DomainEvent[];
  eventsOf<K extends EventType>(type: K): DomainEvent<K>[];
  /** Closes the service and the database and opens both again on the same file. */
  restart(beforeStart?: () => void): Promise<void>;
  close(): Promise<void>;
  idle(): Promise<void>;
}

export async function harness(
  opts: { dataDir?: string; databaseUrl?: string; onClose?: () => Promise<void> } = {},
): Promise<Harness> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-queue-'));
  const clock = new FakeClock();
  const bus = new EventBus({
    now: () => clock.now(),
    onListenerError: (err) => {
      throw err;
    },
  });
  const fleet = new FakeFleet(bus);
  const library = new FakeLibrary();
  const events: DomainEvent[] = [];
  bus.onAny({}, (e) => events.push(e));
  const make = async () => {
    const storage = await openStorage({ dataDir, databaseUrl: opts.databaseUrl ?? null });
    const queue = new QueueService({
      db: storage.db,
      bus,
      clock,
      logger: silentLogger(),
      fleet,
      library,
      tickMs: 1000,
    });
    return { storage, queue };
  };
  let { storage, queue } = await make();
  const h: Harness = {
    dataDir,
    storage,
    bus,
    clock,
    fleet,
    library,
    queue,
    events,
    eventsOf: <K extends EventType>(type: K) => events.filter((e) => e.type === type) as DomainEvent<K>[],
    async restart(beforeStart) {
      await h.queue.stop();
      await h.storage.close();
      ({ storage, queue } = await make());
      h.storage = storage;
      h.queue = queue;
      beforeStart?.();
      await queue.start();
      await queue.whenIdle();
    },
    async close() {
      await h.queue.stop();
      await h.storage.close();
      await opts.onClose?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    idle: () => h.queue.whenIdle(),
  };
  return h;
}

export async function jobRows(h: Harness) {
  return h.storage.db.selectFrom('jobs').selectAll().orderBy('created_at').execute();
}
