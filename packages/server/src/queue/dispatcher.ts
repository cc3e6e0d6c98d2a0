/**
 * Dispatch and job follow-up: runs the scheduler, writes each job as `starting` before the start
 * goes out, and turns printer reports into copy outcomes (done, failed, unknown), alerts and
 * queue pauses. Restart reconciliation lives in reconcile.ts.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { EventBus } from '../events/bus.ts';
import { ShutdownError, type StartJobRequest, StartNotConfirmedError, StartRefusedError } from '../printers/driver.ts';
import type { FleetPrinter, FleetView } from '../printers/fleet-types.ts';
import type { FileRecord, FilamentUse } from '../library/types.ts';
import { filamentKey, planAms } from './ams-match.ts';
import type { Database } from '../storage/schema.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { type PrinterQueueFlags, evaluateGate } from './gatekeeper.ts';
import { JobOutcomes } from './job-outcomes.ts';
import type { QueueStore } from './queue-store.ts';
import { type SchedulerItem, type SchedulerPrinter, schedule } from './scheduler.ts';
import {
  type FitSpec,
  type GateResult,
  type JobRecord,
  type QueueItemRecord,
  closedGate,
  copiesLeft,
} from './types.ts';
import { raiseAlert } from '../alerts/raise.ts';

/** After a confirmed start the printer may still show its old state for a while (bambu-protocol §4 #7). */
export const DISPATCH_HOLD_MS = 60_000;
/** A start that failed before it went out (upload error, file rejected) is retried on that printer after this. */
export const START_FAILED_RETRY_MS = 60_000;

export interface DispatcherDeps {
  store: QueueStore;
  fleet: FleetView;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  fileOf(fileId: string): FileRecord | null | undefined;
  localPath(file: FileRecord): string;
}

/** What the queue remembers about one printer between reports (not persisted). */
interface PrinterRuntime {
  inFlight: boolean;
  holdUntil: number | null;
  /** The unconfirmed job; `sawReset` once a reconnect (no full status) was seen since. */
  startNotConfirmed: { job: JobRecord; sawReset: boolean } | null;
  retryAfter: { at: number; message: string } | null;
  /** Jobs from before the restart that wait for this printer's first trustworthy report. */
  reconcile: JobRecord[] | null;
  /** lastJob.at seen in the previous report; undefined before the first report. */
  lastJobAt: number | null | undefined;
  /** Job id for which a printer error already paused the queue. */
  errorHandledFor: string | null;
  /** The gate-relevant part of the last report (a round runs only when it changes). */
  gateKey: string;
}

/**
 * A printer's side of the fit: what the printer reports about itself first (`state.reported`, e.g.
 * Bambu get_version + nozzle_diameter), what the user typed second.
 */
export const printerFit = (p: FleetPrinter): FitSpec => ({
  model: p.state.reported?.model ?? p.summary.model,
  nozzleDiameter:
    p.state.reported?.nozzleDiameter ??
    (typeof p.summary.settings.nozzleDiameter === 'number' ? p.summary.settings.nozzleDiameter : null),
  kinds: p.summary.fileKinds ?? null,
});

/** The filaments a plate uses (from the library). */
export function plateFilaments(file: FileRecord, plateIndex: number): FilamentUse[] {
  return file.plates.find((p) => p.index === plateIndex)?.filaments ?? [];
}

export function fileFit(file: FileRecord, plateIndex: number): FitSpec {
  const plate = file.plates.find((p) => p.index === plateIndex);
  return {
    model: file.printerModel ?? plate?.printerModel ?? null,
    nozzleDiameter: file.nozzleDiameter ?? plate?.nozzleDiameter ?? null,
    kind: file.kind,
  };
}

/**
 * The fit of a queue item: the file's, except that a plain G-code's model is not held against a
 * printer the user picked explicitly (issue 16: "unless the user picks that printer").
 */
export function itemFit(file: FileRecord, item: { plate: number; printerIds: string[] | null }): FitSpec {
  const fit = fileFit(file, item.plate);
  return item.printerIds && fit.kind !== '3mf' ? { ...fit, model: null } : fit;
}

export class Dispatcher {
  readonly #d: DispatcherDeps;
  readonly #rt = new Map<string, PrinterRuntime>();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #cancelRequested = new Set<string>();
  #roundQueued = false;
  stopped = true;

  readonly outcomes: JobOutcomes;

  constructor(deps: DispatcherDeps) {
    this.#d = deps;
    this.outcomes = new JobOutcomes({
      ...deps,
      clearHold: (printerId) => {
        this.runtime(printerId).holdUntil = null;
      },
    });
  }

  runtime(printerId: string): PrinterRuntime {
    let rt = this.#rt.get(printerId);
    if (!rt) {
      rt = {
        inFlight: false,
        holdUntil: null,
        startNotConfirmed: null,
        retryAfter: null,
        reconcile: null,
        lastJobAt: undefined,
        errorHandledFor: null,
        gateKey: '',
      };
      this.#rt.set(printerId, rt);
    }
    return rt;
  }

  flagsFor(printerId: string): PrinterQueueFlags {
    const rt = this.runtime(printerId);
    const { store } = this.#d;
    return {
      commandInFlight: rt.inFlight,
      holdUntil: rt.holdUntil,
      activeJobId: store.activeJobOn(printerId)?.jobId ?? null,
      startNotConfirmed: rt.startNotConfirmed !== null,
      plateNeedsClearing: store.plateNeedsClearing.has(printerId),
      attention: store.attention.get(printerId) ?? null,
      reconciling: rt.reconcile !== null,
      retryAfter: rt.retryAfter,
    };
  }

  gateFor(printerId: string): GateResult {
    const p = this.#d.fleet.get(printerId);
    if (!p) return closedGate('unknown_printer', 'unknown printer');
    return evaluateGate(this.#schedulerPrinter(p).gate, this.#d.clock.now());
  }

  #schedulerPrinter(p: FleetPrinter): SchedulerPrinter {
    return {
      id: p.summary.id,
      fit: printerFit(p),
      gate: {
        enabled: p.summary.enabled,
        state: p.state,
        settings: p.summary.settings,
        flags: this.flagsFor(p.summary.id),
      },
    };
  }

  track<T>(p: Promise<T>): Promise<T> {
    this.#pending.add(p);
    // Whatever it changed (a job ended, a flag cleared) may open a gate: decide again afterwards.
    void p
      .finally(() => {
        this.#pending.delete(p);
        this.requestRound();
      })
      .catch(() => undefined);
    return p;
  }

  /** Resolves once no dispatch, report handling or change is in progress (tests, shutdown). */
  async whenIdle(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (this.#pending.size === 0 && !this.#roundQueued) {
        await this.#d.store.drain();
        if (this.#pending.size === 0 && !this.#roundQueued) return;
      }
      await Promise.allSettled([...this.#pending]);
    }
  }

  /** Coalesces every trigger (reports, changes, timer) into one decision round. */
  requestRound(): void {
    if (this.#roundQueued || this.stopped) return;
    this.#roundQueued = true;
    queueMicrotask(() => {
      this.#roundQueued = false;
      if (!this.stopped) this.round();
    });
  }

  round(): void {
    const { store, fleet, clock } = this.#d;
    const counts = store.activeCountByItem();
    const items: SchedulerItem[] = [];
    for (const item of store.ordered()) {
      if (item.status !== 'waiting' && item.status !== 'printing') continue;
      const file = this.#d.fileOf(item.fileId);
      if (!file) continue;
      const toStart = copiesLeft(item) - (counts.get(item.id) ?? 0);
      if (toStart <= 0) continue;
      items.push({
        id: item.id,
        fit: itemFit(file, item),
        printerIds: item.printerIds,
        toStart,
        ...this.#filamentFilter(item, file),
      });
    }
    const printers = fleet.list().map((p) => this.#schedulerPrinter(p));
    const { assignments } = schedule({ running: store.running, items, printers }, clock.now());
    for (const a of assignments) {
      this.runtime(a.printerId).inFlight = true;
      this.track(this.#dispatch(a.printerId, a.itemId));
    }
  }

  async #uniqueJobId(tx: Transaction<Database>): Promise<string> {
    // Bambu firmware clamps ids to int32 and treats a reused id as a continuation (§4 #8): fresh, < 2^31.
    for (;;) {
      const id = String(randomInt(1, 2 ** 31 - 1));
      if (!(await this.#d.store.repo.jobIdExists(tx, id))) return id;
    }
  }

  async #dispatch(printerId: string, itemId: string): Promise<void> {
    const { store, fleet, clock, logger } = this.#d;
    const rt = this.runtime(printerId);
    try {
      const printer = fleet.get(printerId);
      const initial = store.items.get(itemId);
      const file = initial ? this.#d.fileOf(initial.fileId) : null;
      if (!printer || !initial || !file) return;
      // Filament is planned before anything is written: a tray emptied since the round means no start.
      const plan = planAms(plateFilaments(file, initial.plate), printer.state.filament, initial.amsMapping);
      if (!plan.ok) return;
      const job = await store.change(
        'dispatch',
        async (c) => {
          // Re-check under the lock: a user change may have landed since the decision.
          const item = store.items.get(itemId);
          const active = store.activeJobsOf(itemId).length;
          if (
            !store.running ||
            !item ||
            (item.status !== 'waiting' && item.status !== 'printing') ||
            copiesLeft(item) - active <= 0 ||
            store.activeJobOn(printerId)
          ) {
            c.skipEvent();
            return null;
          }
          const now = new Date(clock.now()).toISOString();
          const job: JobRecord = {
            id: randomUUID(),
            queueItemId: itemId,
            printerId,
            jobId: await this.#uniqueJobId(c.tx),
            status: 'starting',
            error: null,
            createdAt: now,
            startedAt: null,
            endedAt: null,
            fileId: file.id,
            fileName: file.name,
            plate: item.plate,
            printerName: printer.summary.name,
          };
          await store.repo.insertJob(c.tx, job);
          c.trackJob(job, true);
          await c.saveItem({ ...item, status: 'printing', updatedAt: now });
          return job;
        },
        { itemId },
      );
      if (!job) return;
      const item = store.items.get(itemId) ?? initial;
      const plate = file.plates.find((p) => p.index === item.plate);
      const req: StartJobRequest = {
        jobId: job.jobId,
        localPath: this.#d.localPath(file),
        fileName: file.name,
        fileSize: file.size,
        fileMd5: file.md5,
        fileSha256: file.sha256,
        plate: item.plate,
        gcodePath: plate?.gcodePath ?? null,
        overrides: item.overrides,
        amsMapping: plan.useAms ? plan.mapping : [],
        jobName: file.name.replace(/\.gcode\.3mf$|\.3mf$|\.gcode$/i, ''),
        beforeStartCommand: () => store.repo.markSent(job.id, new Date(clock.now()).toISOString()),
      };
      logger.info({ printerId, itemId, jobId: job.jobId }, 'dispatching queue job');
      try {
        if (!printer.driver.announcesStartCommand) await req.beforeStartCommand!();
        await printer.driver.startJob(req);
      } catch (err) {
        // Interrupted by the server stopping: like after a crash, the restart reconciliation decides
        // from the printer's report (and sent_at) — recording a failure now could free the copy twice.
        if (err instanceof ShutdownError) return;
        await this.#startFailed(printerId, job, err);
        return;
      }
      await this.#startConfirmed(printer, job, file);
    } catch (err) {
      logger.error({ err, printerId, itemId }, 'dispatch failed');
    } finally {
      rt.inFlight = false;
      this.requestRound();
    }
  }

  async #startConfirmed(printer: FleetPrinter, job: JobRecord, file: FileRecord): Promise<void> {
    const { store, clock, bus } = this.#d;
    const printerId = printer.summary.id;
    const moved = await store.change(
      'job-started',
      async (c) => {
        const ok = await store.repo.transitionJob(c.tx, job.id, ['starting'], 'printing', {
          startedAt: new Date(clock.now()).toISOString(),
        });
        if (ok) c.trackJob({ ...job, status: 'printing', startedAt: new Date(clock.now()).toISOString() }, true);
        else c.skipEvent();
        return ok;
      },
      { itemId: job.queueItemId },
    );
    if (!moved) {
      // Cancelled (item deleted with ?cancel=true) while the start was on its way: stop it now.
      if (this.#cancelRequested.delete(job.id)) await printer.driver.cancel().catch(() => undefined);
      return;
    }
    this.runtime(printerId).holdUntil = clock.now() + DISPATCH_HOLD_MS;
    bus.emit('job.started', { printerId, queueItemId: job.queueItemId, jobId: job.jobId, fileName: file.name });
  }

  async #startFailed(printerId: string, job: JobRecord, err: unknown): Promise<void> {
    const { bus, clock, store } = this.#d;
    const message = err instanceof Error ? err.message : String(err);
    const name = this.#d.fleet.get(printerId)?.summary.name ?? printerId;
    if (err instanceof StartNotConfirmedError) {
      // The command may have landed: never re-send this job; hold the printer until it is seen fresh.
      const moved = await this.outcomes.closeJob(job, 'unknown', `start not confirmed: ${message}`);
      if (moved) this.runtime(printerId).startNotConfirmed = { job: { ...job, status: 'unknown' }, sawReset: false };
      raiseAlert(bus, {
        level: 'error',
        printerId,
        code: 'start_not_confirmed',
        message: `${name}: the start of job ${job.jobId} was not confirmed — check the printer; it gets no new job until it reports idle after a reconnect or you confirm the plate is clear`,
      });
      return;
    }
    this.runtime(printerId).retryAfter = { at: clock.now() + START_FAILED_RETRY_MS, message };
    if (err instanceof StartRefusedError) {
      // The printer refused our start outright: it provably did not start. Close it as not started
      // (the copy goes back to the queue or fails, per policy), no plate to clear, no 90 s wait.
      await this.outcomes.closeJob(job, 'failed', `start refused (${err.code}): ${message}`, {
        neverSent: true,
        quiet: true,
      });
      raiseAlert(bus, {
        level: err.code === 'verify_failed' ? 'error' : 'warning',
        printerId,
        code: 'start_refused',
        message: `${name}: the printer refused job ${job.jobId}: ${message}; the copy ${store.failedCopyPolicy === 'fail' ? 'is marked failed' : 'goes back to the queue'}`,
        params: { printerName: name, jobId: job.jobId, reason: err.code, ...err.params },
      });
      return;
    }
    await this.outcomes.closeJob(job, 'failed', `start failed: ${message}`);
  }

  /** Filament needs of an item for the scheduler: only printers whose loaded filament matches. */
  #filamentFilter(item: QueueItemRecord, file: FileRecord): Pick<SchedulerItem, 'accepts' | 'acceptsKey'> {
    const filaments = plateFilaments(file, item.plate);
    if (filaments.length === 0 && !item.amsMapping) return {};
    return {
      acceptsKey: filamentKey(filaments, item.amsMapping),
      accepts: (printerId) => planAms(filaments, this.#d.fleet.get(printerId)?.state.filament, item.amsMapping).ok,
    };
  }

  requestCancel(dispatchId: string): void {
    this.#cancelRequested.add(dispatchId);
  }
}
