/**
 * The batch queue as the rest of the server sees it: item changes (each one transaction and one
 * `queue.changed`), the running switch, the per-printer gate, and the queue view with its ETA.
 * Decisions are in gatekeeper.ts / scheduler.ts / eta.ts; dispatch and follow-up in dispatcher.ts
 * and job-watcher.ts.
 */
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../events/bus.ts';
import { badRequest, conflict, notFound } from '../errors.ts';
import type { JobOverrides } from '../printers/driver.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import type { FileRecord, LibraryView } from '../library/types.ts';
import type { Db } from '../storage/schema.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { Dispatcher, fileFit, printerFit } from './dispatcher.ts';
import { cooldownEndsAt } from './gatekeeper.ts';
import { JobWatcher } from './job-watcher.ts';
import { type QueueView, buildQueueView } from './queue-view.ts';
import { QueueStore } from './queue-store.ts';
import { fitProblem } from './fit.ts';
import { type FailedCopyPolicy, type GateResult, type QueueItemRecord, defaultOverrides } from './types.ts';
import { raiseAlert } from '../alerts/raise.ts';

export interface NewQueueItem {
  fileId: string;
  plate?: number;
  copies?: number;
  overrides?: Partial<JobOverrides>;
  printerIds?: string[] | null;
}

export interface QueueItemPatch {
  copies?: number;
  overrides?: Partial<JobOverrides>;
  printerIds?: string[] | null;
}

export interface QueueSettings {
  failedCopyPolicy: FailedCopyPolicy;
}

export interface QueueServiceOptions {
  db: Db;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  fleet: FleetView;
  library: LibraryView;
  /** Decision round timer (ms); every relevant event also triggers a round. Default 1000. */
  tickMs?: number;
  /**
   * Scale-out (several processes on one PostgreSQL): changes lock and reload (queue-store.ts), and
   * `claimDispatch` fences each dispatch (dispatcher.ts). Absent: one process owns the queue.
   */
  cluster?: { claimDispatch: NonNullable<ConstructorParameters<typeof Dispatcher>[0]['claimDispatch']> };
}

export class QueueService {
  readonly #o: QueueServiceOptions;
  readonly #store: QueueStore;
  readonly #files = new Map<string, FileRecord | null>();
  readonly #dispatcher: Dispatcher;
  readonly #watcher: JobWatcher;
  #timer: TimerHandle | null = null;

  constructor(opts: QueueServiceOptions) {
    this.#o = opts;
    this.#store = new QueueStore(opts.db, opts.bus, () => opts.clock.now());
    this.#store.shared = !!opts.cluster;
    this.#dispatcher = new Dispatcher({
      ...(opts.cluster ? { claimDispatch: opts.cluster.claimDispatch } : {}),
      store: this.#store,
      fleet: opts.fleet,
      bus: opts.bus,
      clock: opts.clock,
      logger: opts.logger,
      fileOf: (id) => this.#files.get(id),
      localPath: (file) => opts.library.localPath(file),
    });
    this.#watcher = new JobWatcher({
      store: this.#store,
      fleet: opts.fleet,
      clock: opts.clock,
      dispatcher: this.#dispatcher,
    });
  }

  /** Loads the queue, starts reconciling jobs from before a restart, subscribes, starts the timer. */
  async start(): Promise<void> {
    const { bus, fleet, clock } = this.#o;
    await this.#store.load();
    for (const item of this.#store.items.values()) await this.#loadFile(item.fileId);
    this.#dispatcher.stopped = false;
    this.#watcher.beginReconcile();
    bus.on('printer.state', this, ({ printerId, state }) => this.#watcher.onState(printerId, state));
    bus.on('printer.added', this, () => this.#dispatcher.requestRound());
    bus.on('printer.updated', this, () => this.#dispatcher.requestRound());
    bus.on('printer.removed', this, ({ printerId }) => this.#onPrinterRemoved(printerId));
    // A removed file is never dispatched again (the library refuses while waiting/printing items use it).
    bus.on(
      'file.removed',
      this,
      ({ fileId }) => {
        if (this.#files.has(fileId)) this.#files.set(fileId, null);
      },
      'all',
    );
    // Scale-out: another process changed the queue (a user's edit, a job it dispatched or ended).
    bus.on('queue.changed', this, () => this.#dispatcher.track(this.#reloadShared()), 'remote');
    for (const p of fleet.list()) this.#watcher.onState(p.summary.id, p.state);
    this.#timer = clock.setInterval(() => this.#dispatcher.requestRound(), this.#o.tickMs ?? 1000);
    this.#dispatcher.requestRound();
  }

  async #reloadShared(): Promise<void> {
    await this.#store.reload();
    this.#dispatcher.syncHolds();
    for (const item of this.#store.items.values()) await this.#loadFile(item.fileId);
  }

  /**
   * Scale-out: this process now owns `printerId` (call before its driver starts). The queue is
   * reloaded and the printer's active jobs reconciled on its first trustworthy report, like after a
   * restart: running prints are adopted, nothing is started twice.
   */
  async takeOver(printerId: string): Promise<void> {
    await this.#reloadShared();
    this.#dispatcher.takeOver(printerId);
  }

  /** Scale-out: another process owns `printerId` now. */
  letGo(printerId: string): void {
    this.#dispatcher.letGo(printerId);
  }

  /** Stops deciding; waits for dispatches in flight (their outcome is recorded) and queued changes. */
  async stop(): Promise<void> {
    this.#dispatcher.stopped = true;
    this.#o.clock.clearInterval(this.#timer);
    this.#timer = null;
    this.#o.bus.removeListeners(this);
    await this.#dispatcher.whenIdle();
  }

  /** Waits until nothing is in progress (for tests and benchmarks). */
  whenIdle(): Promise<void> {
    return this.#dispatcher.whenIdle();
  }

  async #loadFile(fileId: string): Promise<FileRecord | null> {
    if (this.#files.has(fileId)) return this.#files.get(fileId) ?? null;
    const file = (await this.#o.library.getFile(fileId).catch(() => undefined)) ?? null;
    this.#files.set(fileId, file);
    return file;
  }

  #item(id: string): QueueItemRecord {
    const item = this.#store.items.get(id);
    if (!item) throw notFound('queue item');
    return item;
  }

  #checkPrinterIds(printerIds: string[] | null | undefined, file: FileRecord, plate: number): string[] | null {
    if (printerIds === undefined || printerIds === null) return null;
    if (new Set(printerIds).size !== printerIds.length) throw badRequest('printerIds: contains duplicates');
    for (const id of printerIds) {
      const p = this.#o.fleet.get(id);
      if (!p) throw badRequest(`printerIds: unknown printer ${id}`);
      // Only a definite mismatch is refused here; a printer that has not said what it is yet may fit later.
      const problem = fitProblem(fileFit(file, plate), printerFit(p));
      if (problem?.definite) {
        throw badRequest(`printerIds: printer ${p.summary.name} does not fit ${file.name}: ${problem.message}`, problem.code, {
          field: 'printerIds',
          printerId: id,
          ...problem.params,
        });
      }
    }
    return printerIds;
  }

  async addItem(input: NewQueueItem): Promise<QueueView['items'][number]> {
    const file = await this.#loadFile(input.fileId);
    if (!file) {
      this.#files.delete(input.fileId);
      throw notFound('file');
    }
    const plate = input.plate ?? 1;
    if (file.plates.length > 0 && !file.plates.some((p) => p.index === plate)) {
      throw badRequest(
        `plate: ${file.name} has no plate ${plate} (plates: ${file.plates.map((p) => p.index).join(', ')})`,
      );
    }
    const copies = input.copies ?? 1;
    if (!Number.isInteger(copies) || copies < 1) throw badRequest('copies: must be a whole number of at least 1');
    const printerIds = this.#checkPrinterIds(input.printerIds, file, plate);
    const now = new Date(this.#o.clock.now()).toISOString();
    const id = randomUUID();
    await this.#store.change(
      'item-added',
      async (c) => {
        const last = this.#store.ordered().at(-1);
        await c.saveItem({
          id,
          fileId: file.id,
          plate,
          copies,
          copiesDone: 0,
          status: 'waiting',
          position: (last?.position ?? 0) + 1,
          overrides: { ...defaultOverrides, ...(input.overrides ?? {}) },
          printerIds,
          lastError: null,
          createdAt: now,
          updatedAt: now,
        });
      },
      { itemId: id },
    );
    this.#dispatcher.requestRound();
    return this.getItem(id);
  }

  /** The OctoPrint-compatible upload with `print=true`: one copy of plate 1. */
  onPrintRequested(fileId: string): Promise<QueueView['items'][number]> {
    return this.addItem({ fileId });
  }

  async updateItem(id: string, patch: QueueItemPatch): Promise<QueueView['items'][number]> {
    await this.#store.change(
      'item-updated',
      async (c) => {
        const item = this.#item(id);
        if (item.status === 'done') throw conflict('the item is done; add it again to print more', 'item_done');
        if (item.status === 'cancelled') throw conflict('the item was cancelled', 'item_cancelled');
        const file = this.#files.get(item.fileId);
        const active = this.#store.activeJobsOf(id).length;
        const next: QueueItemRecord = { ...item, updatedAt: new Date(this.#o.clock.now()).toISOString() };
        if (patch.copies !== undefined) {
          if (!Number.isInteger(patch.copies) || patch.copies < 1)
            throw badRequest('copies: must be a whole number of at least 1');
          if (patch.copies < item.copiesDone + active) {
            throw badRequest(
              `copies: ${item.copiesDone} copies are done and ${active} printing; copies cannot be lower than ${item.copiesDone + active}`,
            );
          }
          next.copies = patch.copies;
        }
        if (patch.overrides) next.overrides = { ...item.overrides, ...patch.overrides };
        if (patch.printerIds !== undefined) {
          if (!file) throw conflict('the item’s file is missing from the library', 'file_missing');
          next.printerIds = this.#checkPrinterIds(patch.printerIds, file, item.plate);
        }
        // Editing a failed item is how a user puts it back into the queue.
        if (item.status === 'failed') {
          next.status = 'waiting';
          next.lastError = null;
        }
        next.status = this.#store.deriveStatus(next, active);
        await c.saveItem(next);
      },
      { itemId: id },
    );
    this.#dispatcher.requestRound();
    return this.getItem(id);
  }

  /** `ids` in their new order; they take the slots they held between them, other items stay put. */
  async reorder(ids: string[]): Promise<QueueView> {
    if (new Set(ids).size !== ids.length) throw badRequest('ids: contains duplicates');
    await this.#store.change('reordered', async (c) => {
      for (const id of ids) this.#item(id);
      const wanted = new Set(ids);
      const slots = this.#store
        .ordered()
        .filter((i) => wanted.has(i.id))
        .map((i) => i.position);
      const iso = new Date(this.#o.clock.now()).toISOString();
      for (let k = 0; k < ids.length; k++) {
        const item = this.#item(ids[k]!);
        if (item.position !== slots[k]) await c.saveItem({ ...item, position: slots[k]!, updatedAt: iso });
      }
    });
    this.#dispatcher.requestRound();
    return this.getQueue();
  }

  /** Removes an item; one that is printing needs `cancel`, which stops its prints first. */
  async removeItem(id: string, opts: { cancel?: boolean } = {}): Promise<void> {
    const cancelled = await this.#store.change(
      'item-removed',
      async (c) => {
        this.#item(id);
        const active = this.#store.activeJobsOf(id);
        if (active.length > 0 && !opts.cancel) {
          throw conflict('the item is printing; use ?cancel=true to cancel its prints and remove it', 'item_printing');
        }
        const iso = new Date(this.#o.clock.now()).toISOString();
        for (const job of active) {
          if (
            await this.#store.repo.transitionJob(c.tx, job.id, ['starting', 'printing'], 'cancelled', {
              endedAt: iso,
              error: 'cancelled by the user',
            })
          ) {
            c.trackJob(job, false);
          }
          if (this.#o.fleet.get(job.printerId)?.summary.settings.requirePlateClear)
            await c.setPlateNeedsClearing(job.printerId, true);
        }
        await c.deleteItems([id]);
        return active;
      },
      { itemId: id },
    );
    for (const job of cancelled) {
      this.#dispatcher.requestCancel(job.id);
      const p = this.#o.fleet.get(job.printerId);
      if (!p || job.status === 'starting') continue;
      await p.driver.cancel().catch((err: Error) => {
        raiseAlert(this.#o.bus, {
          level: 'error',
          printerId: job.printerId,
          code: 'cancel_failed',
          message: `${p.summary.name}: could not cancel job ${job.jobId} (${err.message}) — stop it on the printer`,
        });
      });
    }
    this.#dispatcher.requestRound();
  }

  /** Removes every item that is not printing (waiting, done, failed, cancelled). */
  async clear(): Promise<void> {
    await this.#store.change('cleared', async (c) => {
      const counts = this.#store.activeCountByItem();
      await c.deleteItems([...this.#store.items.values()].filter((i) => !counts.get(i.id)).map((i) => i.id));
    });
  }

  async setRunning(running: boolean): Promise<{ running: boolean }> {
    await this.#store.change(running ? 'started' : 'paused', async (c) => {
      if (this.#store.running === running) return c.skipEvent();
      await c.setRunning(running);
    });
    this.#dispatcher.requestRound();
    return { running: this.#store.running };
  }

  get running(): boolean {
    return this.#store.running;
  }

  getSettings(): QueueSettings {
    return { failedCopyPolicy: this.#store.failedCopyPolicy };
  }

  async updateSettings(patch: Partial<QueueSettings>): Promise<QueueSettings> {
    if (patch.failedCopyPolicy !== undefined) {
      if (patch.failedCopyPolicy !== 'retry' && patch.failedCopyPolicy !== 'fail') {
        throw badRequest('failedCopyPolicy: must be "retry" or "fail"');
      }
      const policy = patch.failedCopyPolicy;
      await this.#store.change('settings', (c) => c.setPolicy(policy));
    }
    return this.getSettings();
  }

  /** The user confirms the printer's plate is clear (and that they checked any job left unknown). */
  async plateCleared(printerId: string): Promise<{ printerId: string; gate: GateResult }> {
    if (!this.#o.fleet.get(printerId)) throw notFound('printer');
    this.#dispatcher.runtime(printerId).retryAfter = null;
    await this.#dispatcher.releaseStartHold(printerId);
    await this.#store.change('plate-cleared', async (c) => {
      if (!this.#store.plateNeedsClearing.has(printerId) && !this.#store.attention.has(printerId)) return c.skipEvent();
      await c.setPlateNeedsClearing(printerId, false);
      await c.setAttention(printerId, null);
    });
    this.#dispatcher.requestRound();
    return { printerId, gate: this.gateFor(printerId) };
  }

  gateFor(printerId: string): GateResult {
    return this.#dispatcher.gateFor(printerId);
  }

  /** ISO time the plate-swap cooldown ends, or null when none is running. */
  cooldownUntil(printerId: string): string | null {
    const p = this.#o.fleet.get(printerId);
    if (!p) return null;
    const end = cooldownEndsAt(p.state, p.summary.settings);
    return end !== null && end > this.#o.clock.now() ? new Date(end).toISOString() : null;
  }

  queueItemIdFor(printerId: string): string | null {
    const job = this.#store.activeJobOn(printerId);
    return job && this.#store.items.has(job.queueItemId) ? job.queueItemId : null;
  }

  plateNeedsClearing(printerId: string): boolean {
    return this.#store.plateNeedsClearing.has(printerId);
  }

  /** For DELETE /printers/:id (409 while it prints a queue job). */
  hasActiveJob(printerId: string): boolean {
    return this.#store.activeJobOn(printerId) !== undefined;
  }

  /** For DELETE /files/:id (409 while a waiting or printing item uses it). */
  isFileInUse(fileId: string): boolean {
    for (const i of this.#store.items.values()) {
      if (i.fileId === fileId && (i.status === 'waiting' || i.status === 'printing')) return true;
    }
    return false;
  }

  getQueue(): QueueView {
    return buildQueueView({
      store: this.#store,
      fleet: this.#o.fleet,
      fileOf: (id) => this.#files.get(id),
      now: this.#o.clock.now(),
    });
  }

  getItem(id: string): QueueView['items'][number] {
    this.#item(id);
    const item = this.getQueue().items.find((i) => i.id === id);
    if (!item) throw notFound('queue item');
    return item;
  }

  #onPrinterRemoved(printerId: string): void {
    const job = this.#store.activeJobOn(printerId);
    const closed = job
      ? this.#dispatcher.outcomes.markUnknown(job, 'was running on a printer that was removed')
      : Promise.resolve();
    const forget = () =>
      this.#store.change('printer-removed', async (c) => {
        if (!this.#store.plateNeedsClearing.has(printerId) && !this.#store.attention.has(printerId))
          return c.skipEvent();
        await c.setPlateNeedsClearing(printerId, false);
        await c.setAttention(printerId, null);
      });
    this.#dispatcher.track(closed.then(forget));
  }
}
