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
import { Dispatcher, printerFit } from './dispatcher.ts';
import { cooldownEndsAt } from './gatekeeper.ts';
import { JobWatcher } from './job-watcher.ts';
import { type QueueView, buildQueueView } from './queue-view.ts';

import { QueueStore } from './queue-store.ts';
import { fitProblem, type WaitReason } from './fit.ts';
import {
  type FailedCopyPolicy,
  type GateResult,
  type JobRecord,
  type QueueItemRecord,
  defaultOverrides,
} from './types.ts';
import { EXTERNAL_SLOT, planAms } from './ams-match.ts';
import { itemFit, plateFilaments } from './dispatcher.ts';
import { JobHistory, type JobHistoryItem, presentJob } from './job-history.ts';
import { supportedOverrides, unsupportedOverrides } from './overrides.ts';
import { computeReasons, isPrinting, waitingGroups } from './queue-view.ts';
import { printerIdleReason } from './wait-reasons.ts';
import { raiseAlert } from '../alerts/raise.ts';

export interface NewQueueItem {
  fileId: string;
  plate?: number;
  copies?: number;
  overrides?: Partial<JobOverrides>;
  printerIds?: string[] | null;
  /** Explicit AMS mapping (ams-match.ts); null/absent = automatic. */
  amsMapping?: number[] | null;
}

export interface QueueItemPatch {
  copies?: number;
  overrides?: Partial<JobOverrides>;
  printerIds?: string[] | null;
  amsMapping?: number[] | null;
}

/** The fit pre-check answer (POST /queue/fit). */
export interface FitCheck {
  fits: boolean;
  waitingReason: WaitReason | null;
  printers: Array<{
    printerId: string;
    printerName: string;
    fits: boolean;
    problem: WaitReason | null;
    supportedOverrides: string[];
    amsMapping: number[] | null;
  }>;
}

/** Who did it (a username), for "cancelled by". */
export type Actor = string;

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
}

export class QueueService {
  readonly #o: QueueServiceOptions;
  readonly #store: QueueStore;
  readonly #files = new Map<string, FileRecord | null>();
  readonly #dispatcher: Dispatcher;
  readonly #watcher: JobWatcher;
  readonly history: JobHistory;
  #timer: TimerHandle | null = null;
  /** Waiting groups for printers' idle reasons; rebuilt after a queue change (printer reads are frequent). */
  #groups: ReturnType<typeof waitingGroups> | null = null;

  constructor(opts: QueueServiceOptions) {
    this.#o = opts;
    this.#store = new QueueStore(opts.db, opts.bus, () => opts.clock.now());
    this.history = new JobHistory(opts.db);
    this.#dispatcher = new Dispatcher({
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
    bus.on('queue.changed', this, () => {
      this.#groups = null;
    });
    bus.on('printer.added', this, () => this.#dispatcher.requestRound());
    bus.on('printer.updated', this, () => this.#dispatcher.requestRound());
    bus.on('printer.removed', this, ({ printerId }) => this.#onPrinterRemoved(printerId));
    // A removed file is never dispatched again (the library refuses while waiting/printing items use it).
    bus.on('file.removed', this, ({ fileId }) => {
      if (this.#files.has(fileId)) this.#files.set(fileId, null);
      this.#groups = null;
    });
    for (const p of fleet.list()) this.#watcher.onState(p.summary.id, p.state);
    this.#timer = clock.setInterval(() => this.#dispatcher.requestRound(), this.#o.tickMs ?? 1000);
    this.#dispatcher.requestRound();
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
      const problem = fitProblem(itemFit(file, { plate, printerIds }), printerFit(p));
      if (problem?.definite) {
        throw badRequest(
          `printerIds: printer ${p.summary.name} does not fit ${file.name}: ${problem.message}`,
          problem.code,
          {
            field: 'printerIds',
            printerId: id,
            ...problem.params,
          },
        );
      }
    }
    return printerIds;
  }

  /** 400 when a non-default override is asked for and none of the chosen printers honours it. */
  #checkOverrides(overrides: Partial<JobOverrides> | undefined, printerIds: string[] | null): void {
    if (!printerIds) return;
    const chosen = printerIds.map((id) => this.#o.fleet.get(id)?.summary).filter((s) => s !== undefined);
    const bad = unsupportedOverrides(overrides, chosen);
    if (bad.length > 0) {
      throw badRequest(
        `overrides: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} ignored by the chosen printers (Marlin and Klipper print the G-code as sliced)`,
        'override_unsupported',
        { field: 'overrides', overrides: bad },
      );
    }
  }

  /** An explicit AMS mapping: one whole number per filament slot, -1 unused, 0-253 a tray, 254 the external spool. */
  #checkMapping(mapping: number[] | null | undefined): number[] | null {
    if (mapping === undefined || mapping === null) return null;
    if (mapping.length === 0 || mapping.length > 64)
      throw badRequest('amsMapping: 1 to 64 entries', 'bad_ams_mapping', { field: 'amsMapping' });
    for (const v of mapping) {
      if (!Number.isInteger(v) || v < -1 || v > EXTERNAL_SLOT) {
        throw badRequest(
          `amsMapping: ${v} is not a tray (-1 unused, 0-253 AMS tray ams_id*4+tray, 254 external spool)`,
          'bad_ams_mapping',
          {
            field: 'amsMapping',
            value: v,
          },
        );
      }
    }
    return [...mapping];
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
    this.#checkOverrides(input.overrides, printerIds);
    const amsMapping = this.#checkMapping(input.amsMapping);
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
          copiesCancelled: 0,
          copiesFailed: 0,
          amsMapping,
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
          const floor = item.copiesDone + item.copiesCancelled + active;
          if (patch.copies < floor) {
            throw badRequest(
              `copies: ${item.copiesDone} copies are done, ${item.copiesCancelled} cancelled and ${active} printing; copies cannot be lower than ${floor}`,
              'copies_too_low',
              { field: 'copies', min: floor },
            );
          }
          next.copies = patch.copies;
        }
        if (patch.overrides) next.overrides = { ...item.overrides, ...patch.overrides };
        if (patch.printerIds !== undefined) {
          if (!file) throw conflict('the item’s file is missing from the library', 'file_missing');
          next.printerIds = this.#checkPrinterIds(patch.printerIds, file, item.plate);
        }
        if (patch.overrides || patch.printerIds !== undefined)
          this.#checkOverrides(patch.overrides ?? next.overrides, next.printerIds);
        if (patch.amsMapping !== undefined) next.amsMapping = this.#checkMapping(patch.amsMapping);
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
  async removeItem(id: string, opts: { cancel?: boolean; actor?: Actor } = {}): Promise<void> {
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
              error: opts.actor ? `cancelled by ${opts.actor}` : 'cancelled by the user',
              cancelledBy: opts.actor ?? 'user',
              durationSeconds: job.startedAt
                ? Math.max(0, Math.round((Date.parse(iso) - Date.parse(job.startedAt)) / 1000))
                : null,
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
    for (const job of cancelled) await this.#stopOnPrinter(job);
    this.#dispatcher.requestRound();
  }

  /** Stops a cancelled job on its printer (a start still on its way is stopped once it lands). */
  async #stopOnPrinter(job: JobRecord): Promise<void> {
    this.#dispatcher.requestCancel(job.id);
    const p = this.#o.fleet.get(job.printerId);
    if (!p || job.status === 'starting') return;
    await p.driver.cancel().catch((err: Error) => {
      raiseAlert(this.#o.bus, {
        level: 'error',
        printerId: job.printerId,
        code: 'cancel_failed',
        message: `${p.summary.name}: could not cancel job ${job.jobId} (${err.message}) — stop it on the printer`,
        params: { printerName: p.summary.name, jobId: job.jobId, reason: err.message },
      });
    });
  }

  /**
   * Cancels one running copy (scope `copy`): that printer's print stops, the copy counts as
   * cancelled by `actor`, the item goes on with its other copies. Scope `item` cancels the item.
   */
  async cancelJob(
    dispatchId: string,
    scope: 'copy' | 'item',
    actor: Actor,
  ): Promise<{ job: JobHistoryItem; item: QueueView['items'][number] | null }> {
    const job = this.#store.activeJobs.get(dispatchId);
    if (!job) {
      const rec = await this.#store.repo.getJob(dispatchId);
      if (!rec) throw notFound('job');
      throw conflict(`the job is not running (it is ${rec.status})`, 'job_not_active', { status: rec.status });
    }
    if (scope === 'item') {
      const item = this.#store.items.has(job.queueItemId) ? await this.cancelItem(job.queueItemId, actor) : null;
      return { job: await this.getJob(dispatchId), item };
    }
    const moved = await this.#dispatcher.outcomes.closeJob(job, 'cancelled', `cancelled by ${actor}`, {
      cancelledBy: actor,
      failItem: false,
      copyCancelled: true,
      quiet: true,
    });
    if (!moved) throw conflict('the job has just ended', 'job_not_active');
    await this.#stopOnPrinter(job);
    this.#dispatcher.requestRound();
    return {
      job: await this.getJob(dispatchId),
      item: this.#store.items.has(job.queueItemId) ? this.getItem(job.queueItemId) : null,
    };
  }

  /** Cancels a whole item: every running copy stops; the item stays in the list as cancelled. */
  async cancelItem(id: string, actor: Actor): Promise<QueueView['items'][number]> {
    const active = await this.#store.change(
      'item-cancelled',
      async (c) => {
        const item = this.#item(id);
        if (item.status === 'done' || item.status === 'cancelled') {
          throw conflict(`the item is already ${item.status}`, 'item_not_cancellable', { status: item.status });
        }
        const iso = new Date(this.#o.clock.now()).toISOString();
        await c.saveItem({ ...item, status: 'cancelled', lastError: `cancelled by ${actor}`, updatedAt: iso });
        return this.#store.activeJobsOf(id);
      },
      { itemId: id },
    );
    for (const job of active) {
      await this.#dispatcher.outcomes.closeJob(job, 'cancelled', `cancelled by ${actor}`, {
        cancelledBy: actor,
        failItem: false,
        quiet: true,
      });
      await this.#stopOnPrinter(job);
    }
    this.#dispatcher.requestRound();
    return this.getItem(id);
  }

  /** Puts a failed or cancelled item back into the queue with every copy not yet printed. */
  async retryItem(id: string): Promise<QueueView['items'][number]> {
    await this.#store.change(
      'item-retried',
      async (c) => {
        const item = this.#item(id);
        if (item.status !== 'failed' && item.status !== 'cancelled') {
          throw conflict(
            `only a failed or cancelled item can be retried (this one is ${item.status})`,
            'item_not_retryable',
            {
              status: item.status,
            },
          );
        }
        const next: QueueItemRecord = {
          ...item,
          status: 'waiting',
          copiesCancelled: 0,
          lastError: null,
          updatedAt: new Date(this.#o.clock.now()).toISOString(),
        };
        next.status = this.#store.deriveStatus(next, this.#store.activeJobsOf(id).length);
        await c.saveItem(next);
      },
      { itemId: id },
    );
    this.#dispatcher.requestRound();
    return this.getItem(id);
  }

  /** Retries several items (all failed/cancelled ones when `ids` is absent); others are skipped. */
  async retryItems(ids?: string[]): Promise<QueueView['items']> {
    const wanted =
      ids ??
      [...this.#store.items.values()].filter((i) => i.status === 'failed' || i.status === 'cancelled').map((i) => i.id);
    for (const id of wanted) this.#item(id);
    const out: QueueView['items'] = [];
    for (const id of wanted) {
      const item = this.#item(id);
      out.push(item.status === 'failed' || item.status === 'cancelled' ? await this.retryItem(id) : this.getItem(id));
    }
    return out;
  }

  /**
   * Puts one ended copy back into the queue (once per job): its item goes back to waiting with that
   * copy; when the item was removed meanwhile, a new one-copy item of the same file and plate.
   */
  async retryJob(dispatchId: string): Promise<QueueView['items'][number]> {
    const job = await this.#store.repo.getJob(dispatchId);
    if (!job) throw notFound('job');
    if (job.status !== 'failed' && job.status !== 'cancelled' && job.status !== 'unknown') {
      throw conflict(
        `only a failed, cancelled or unknown copy can be retried (this one is ${job.status})`,
        'job_not_retryable',
        {
          status: job.status,
        },
      );
    }
    if (job.retriedAt)
      throw conflict('this copy was already put back into the queue', 'job_not_retryable', {
        retriedAt: job.retriedAt,
      });
    const item = this.#store.items.get(job.queueItemId);
    if (!item) {
      if (!job.fileId) throw conflict('the job does not say which file it printed', 'job_not_retryable');
      const created = await this.addItem({ fileId: job.fileId, plate: job.plate ?? 1 });
      await this.#store.change('job-retried', async (c) => {
        await this.#store.repo.markRetried(c.tx, job.id, new Date(this.#o.clock.now()).toISOString());
        c.skipEvent();
      });
      return created;
    }
    await this.#store.change(
      'job-retried',
      async (c) => {
        const iso = new Date(this.#o.clock.now()).toISOString();
        const current = this.#item(item.id);
        const next: QueueItemRecord = { ...current, updatedAt: iso, lastError: null };
        if (job.status === 'cancelled' && current.copiesCancelled > 0) {
          // A copy a person cancelled: un-cancel it.
          next.copiesCancelled = current.copiesCancelled - 1;
        } else if (current.status === 'done') {
          // Everything printed meanwhile: print this copy once more.
          next.copies = current.copies + 1;
        } else if (current.status !== 'failed' && current.status !== 'cancelled') {
          // Policy `retry` already put the copy back: retrying it again would print one too many.
          throw conflict('this copy is already back in the queue', 'job_not_retryable', { status: current.status });
        }
        next.status = 'waiting';
        next.status = this.#store.deriveStatus(next, this.#store.activeJobsOf(item.id).length);
        if (!(await this.#store.repo.markRetried(c.tx, job.id, iso)))
          throw conflict('this copy was already put back into the queue', 'job_not_retryable');
        await c.saveItem(next);
      },
      { itemId: item.id },
    );
    this.#dispatcher.requestRound();
    return this.getItem(item.id);
  }

  /** "Print all plates": one item per plate of the file, in plate order. */
  async addAllPlates(input: Omit<NewQueueItem, 'plate' | 'amsMapping'>): Promise<QueueView['items']> {
    const file = await this.#loadFile(input.fileId);
    if (!file) {
      this.#files.delete(input.fileId);
      throw notFound('file');
    }
    const plates = file.plates.length > 0 ? [...file.plates].map((p) => p.index).sort((a, b) => a - b) : [1];
    // Validate once up front so a bad request adds nothing.
    for (const plate of plates) this.#checkPrinterIds(input.printerIds, file, plate);
    this.#checkOverrides(input.overrides, input.printerIds ?? null);
    const out: QueueView['items'] = [];
    for (const plate of plates) out.push(await this.addItem({ ...input, plate }));
    return out;
  }

  /** Would this file/plate print, and where? The same reasons the queue shows, before adding. */
  async checkFit(input: {
    fileId: string;
    plate?: number;
    printerIds?: string[] | null;
    amsMapping?: number[] | null;
  }): Promise<FitCheck> {
    const file = await this.#loadFile(input.fileId);
    if (!file) {
      this.#files.delete(input.fileId);
      throw notFound('file');
    }
    const plate = input.plate ?? 1;
    const printerIds = input.printerIds ?? null;
    for (const id of printerIds ?? [])
      if (!this.#o.fleet.get(id)) throw badRequest(`printerIds: unknown printer ${id}`);
    const amsMapping = this.#checkMapping(input.amsMapping);
    const probe: QueueItemRecord = {
      id: '(fit-check)',
      fileId: file.id,
      plate,
      copies: 1,
      copiesDone: 0,
      copiesCancelled: 0,
      copiesFailed: 0,
      status: 'waiting',
      position: 0,
      overrides: defaultOverrides,
      printerIds,
      amsMapping,
      lastError: null,
      createdAt: '',
      updatedAt: '',
    };
    const { items } = computeReasons({
      items: [probe],
      fleet: this.#o.fleet,
      fileOf: (id) => (id === file.id ? file : this.#files.get(id)),
      gateOf: (id) => this.#dispatcher.gateFor(id),
      running: this.#store.running,
      busyPrinters: new Set(),
      activeCount: new Map(),
    });
    const waitingReason = items.get(probe.id) ?? null;
    const fit = itemFit(file, probe);
    const filaments = plateFilaments(file, plate);
    const printers = this.#o.fleet
      .list()
      .filter((p) => !printerIds || printerIds.includes(p.summary.id))
      .map((p) => {
        const problem = fitProblem(fit, printerFit(p));
        const plan = planAms(filaments, p.state.filament, amsMapping);
        const reason: WaitReason | null = problem
          ? { code: problem.code, message: problem.message, params: problem.params }
          : plan.ok
            ? null
            : {
                code: 'no_ams_match',
                message: `filament not loaded: ${plan.missing.map((m) => `${m.type} ${m.color ?? ''}`.trim()).join(', ')}`,
                params: { missing: plan.missing },
              };
        return {
          printerId: p.summary.id,
          printerName: p.summary.name,
          fits: reason === null,
          problem: reason,
          supportedOverrides: supportedOverrides(p.summary),
          amsMapping: plan.ok && plan.useAms ? plan.mapping : null,
        };
      });
    const never = waitingReason !== null && ['no_printer_fits', 'no_ams_match'].includes(waitingReason.code);
    return { fits: !never && printers.some((p) => p.fits), waitingReason, printers };
  }

  /** One job (active or ended) as a history row. */
  async getJob(dispatchId: string): Promise<JobHistoryItem> {
    const job = this.#store.activeJobs.get(dispatchId) ?? (await this.#store.repo.getJob(dispatchId));
    if (!job) throw notFound('job');
    return this.presentJob(job);
  }

  /** A history row with the live names as fallback for jobs from before the history columns. */
  presentJob(job: JobRecord): JobHistoryItem {
    const item = this.#store.items.get(job.queueItemId);
    return presentJob(job, {
      printerName: this.#o.fleet.get(job.printerId)?.summary.name ?? null,
      fileName: item ? (this.#files.get(item.fileId)?.name ?? null) : null,
    });
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
    this.#dispatcher.runtime(printerId).startNotConfirmed = null;
    this.#dispatcher.runtime(printerId).retryAfter = null;
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

  /** Why this printer gets no job (state.idleReason), null while it prints or gets one next round. */
  idleReasonFor(printerId: string): WaitReason | null {
    const { fleet } = this.#o;
    const p = fleet.get(printerId);
    if (!p) return null;
    this.#groups ??= waitingGroups({
      items: this.#store.ordered(),
      fileOf: (id) => this.#files.get(id),
      activeCount: this.#store.activeCountByItem(),
      filamentOf: (id) => fleet.get(id)?.state.filament ?? null,
    });
    const printing = this.#store.activeJobOn(printerId) !== undefined || isPrinting(fleet, new Set(), printerId);
    return printerIdleReason(
      { id: printerId, name: p.summary.name, fit: printerFit(p), gate: this.gateFor(printerId), printing },
      this.#groups.groups,
      this.#store.running,
      this.#groups.count,
    );
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
      gateOf: (id) => this.#dispatcher.gateFor(id),
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
