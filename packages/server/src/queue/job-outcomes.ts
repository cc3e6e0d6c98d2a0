/**
 * What happens to a queue item when one of its jobs ends, is adopted, or nobody knows: each
 * outcome is one guarded job transition plus the item update in one change, then the events
 * (`job.finished`, `job.failed`, `alert`). A transition that another path already made is a no-op.
 */
import { encodeAttention } from './attention.ts';
import type { EventBus } from '../events/bus.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import type { JobOutcome } from '../printers/model.ts';
import type { FileRecord } from '../library/types.ts';
import type { Clock } from '../util/clock.ts';
import type { QueueStore } from './queue-store.ts';
import type { JobRecord } from './types.ts';
import { raiseAlert } from '../alerts/raise.ts';

export interface JobOutcomeDeps {
  store: QueueStore;
  fleet: FleetView;
  bus: EventBus;
  clock: Clock;
  fileOf(fileId: string): FileRecord | null | undefined;
  /** Ends the post-dispatch hold of a printer. */
  clearHold(printerId: string): void;
}

export class JobOutcomes {
  /** Last progress (%) the printer showed for each active job: the end report no longer carries it. */
  readonly #progress = new Map<string, number>();

  constructor(private readonly d: JobOutcomeDeps) {}

  /** Remembers how far an active job got (for the filament a stopped job used). */
  noteProgress(dispatchId: string, progress: number): void {
    this.#progress.set(dispatchId, progress);
  }

  /**
   * Ends a job once (guarded transition) and applies the outcome to its item, all in one change.
   * Returns false when the job had already been moved by another path.
   */
  async closeJob(
    job: JobRecord,
    to: 'finished' | 'failed' | 'cancelled' | 'unknown',
    reason: string | null,
    opts: {
      failItem?: boolean;
      neverSent?: boolean;
      /** the caller raises its own alert */ quiet?: boolean;
      /** Who cancelled it (a username; "printer" when cancelled on the printer). */
      cancelledBy?: string | null;
      /** A person cancelled this one copy: it is not printed again, the item goes on with the rest. */
      copyCancelled?: boolean;
    } = {},
  ): Promise<boolean> {
    const { store, fleet, clock, bus } = this.d;
    const printer = fleet.get(job.printerId);
    const now = clock.now();
    const iso = new Date(now).toISOString();
    const grams = this.#filamentUsed(job, to, opts.neverSent === true);
    const startedAt = store.activeJobs.get(job.id)?.startedAt ?? job.startedAt;
    const duration = startedAt ? Math.max(0, Math.round((now - Date.parse(startedAt)) / 1000)) : null;
    const outcome = await store.change(
      `job-${to}`,
      async (c) => {
        const ok = await store.repo.transitionJob(c.tx, job.id, ['starting', 'printing'], to, {
          endedAt: iso,
          error: reason,
          filamentGrams: grams,
          durationSeconds: duration,
          ...(to === 'cancelled' ? { cancelledBy: opts.cancelledBy ?? 'printer' } : {}),
        });
        if (!ok) {
          c.skipEvent();
          return null;
        }
        c.trackJob(job, false);
        const item = store.items.get(job.queueItemId);
        let failedItem = false;
        if (item) {
          const next = { ...item, updatedAt: iso };
          if (to === 'finished') next.copiesDone = item.copiesDone + 1;
          else if (opts.copyCancelled) next.copiesCancelled = item.copiesCancelled + 1;
          else {
            next.lastError = reason;
            if (to === 'failed') next.copiesFailed = item.copiesFailed + 1;
            const fail = opts.failItem ?? (to !== 'unknown' && store.failedCopyPolicy === 'fail');
            if (fail && item.status !== 'cancelled') {
              next.status = 'failed';
              failedItem = true;
            }
          }
          const stillActive = store.activeJobsOf(item.id).filter((j) => j.id !== job.id).length;
          next.status = store.deriveStatus(next, stillActive);
          await c.saveItem(next);
        }
        if (to !== 'unknown' && !opts.neverSent && printer?.summary.settings.requirePlateClear)
          await c.setPlateNeedsClearing(job.printerId, true);
        return { failedItem };
      },
      { itemId: job.queueItemId },
    );
    if (!outcome) return false;
    // The hold only bridges the time after a start; once the job has ended it has no purpose.
    this.d.clearHold(job.printerId);
    const fileName = this.#fileNameOf(job.queueItemId);
    const base = { printerId: job.printerId, queueItemId: job.queueItemId, jobId: job.jobId, fileName };
    if (to === 'finished') {
      bus.emit('job.finished', base);
      this.#announceIfQueueFinished();
    } else {
      bus.emit('job.failed', { ...base, reason: reason ?? to });
      if (to !== 'unknown' && !opts.quiet) {
        raiseAlert(bus, {
          level: 'warning',
          printerId: job.printerId,
          code: 'job_failed',
          message: `${printer?.summary.name ?? job.printerId}: ${fileName} ${to === 'cancelled' ? 'was cancelled' : 'failed'}${reason ? ` (${reason})` : ''}; ${outcome.failedItem ? 'the queue item is marked failed' : 'the copy goes back to the queue'}`,
        });
      }
    }
    return true;
  }

  /**
   * Filament a job used: the plate's weight when it finished; weight × progress when it stopped
   * part-way and the printer still shows its progress; 0 when it never went out; otherwise unknown.
   */
  #filamentUsed(job: JobRecord, to: string, neverSent: boolean): number | null {
    if (neverSent) return 0;
    const item = this.d.store.items.get(job.queueItemId);
    const fileId = job.fileId ?? item?.fileId;
    const plateIndex = job.plate ?? item?.plate;
    const plate = fileId ? this.d.fileOf(fileId)?.plates.find((p) => p.index === plateIndex) : undefined;
    const weight = plate?.weightGrams ?? null;
    if (weight === null) return null;
    if (to === 'finished') return weight;
    const state = this.d.fleet.get(job.printerId)?.state;
    const shown = state?.job?.jobId === job.jobId ? state.progress : null;
    const progress = shown ?? this.#progress.get(job.id) ?? null;
    this.#progress.delete(job.id);
    if (progress === null) return null;
    return Math.round(weight * Math.min(100, Math.max(0, progress))) / 100;
  }

  /**
   * After the last job of the queue finished (nothing waiting or printing any more): a
   * `queue.finished` event and an info alert, which notifiers can send ("queue finished").
   */
  #announceIfQueueFinished(): void {
    const { store, bus } = this.d;
    const items = [...store.items.values()];
    if (items.some((i) => i.status === 'waiting' || i.status === 'printing') || store.activeCountByItem().size > 0)
      return;
    const count = (s: string) => items.filter((i) => i.status === s).length;
    const summary = { done: count('done'), failed: count('failed'), cancelled: count('cancelled') };
    bus.emit('queue.finished', summary);
    raiseAlert(bus, {
      level: 'info',
      code: 'queue_finished',
      message: `The queue is finished: ${summary.done} done, ${summary.failed} failed, ${summary.cancelled} cancelled`,
      params: summary,
    });
  }

  #fileNameOf(itemId: string): string {
    const item = this.d.store.items.get(itemId);
    return (item && this.d.fileOf(item.fileId)?.name) ?? 'unknown file';
  }

  /** Marks a job whose fate nobody knows; the printer stays closed until a person confirms. */
  async markUnknown(job: JobRecord, why: string, whyCode: 'restart' | 'removed' = 'removed'): Promise<void> {
    const { store, bus, fleet } = this.d;
    const name = fleet.get(job.printerId)?.summary.name ?? job.printerId;
    const reason = `job ${job.jobId} ${why} — check the printer, then confirm the plate is clear`;
    const moved = await this.closeJob(job, 'unknown', reason, { failItem: true });
    if (!moved) return;
    const attention = encodeAttention({
      code: `job_outcome_unknown_${whyCode}`,
      message: reason,
      params: { jobId: job.jobId, status: job.status },
    });
    await store.change('printer-attention', (c) => c.setAttention(job.printerId, attention), { itemId: job.queueItemId });
    raiseAlert(bus, {
      level: 'error',
      printerId: job.printerId,
      code: 'job_outcome_unknown',
      message: `${name}: ${reason}`,
      params: { printerName: name, jobId: job.jobId },
    });
  }

  async adopt(job: JobRecord, from: 'starting' | 'unknown'): Promise<void> {
    const { store, clock } = this.d;
    const iso = new Date(clock.now()).toISOString();
    await store.change(
      'job-adopted',
      async (c) => {
        const ok = await store.repo.transitionJob(c.tx, job.id, [from], 'printing', {
          startedAt: job.startedAt ?? iso,
          error: null,
        });
        if (!ok) return c.skipEvent();
        c.trackJob({ ...job, status: 'printing', startedAt: job.startedAt ?? iso }, true);
        const item = store.items.get(job.queueItemId);
        if (item && (item.status === 'waiting' || item.status === 'printing'))
          await c.saveItem({ ...item, status: 'printing', updatedAt: iso });
      },
      { itemId: job.queueItemId },
    );
  }

  endJob(job: JobRecord, outcome: JobOutcome, why?: string): Promise<boolean> {
    let reason: string | null = null;
    if (why) reason = why;
    else if (outcome === 'cancelled') reason = 'cancelled on the printer';
    else if (outcome === 'failed') reason = 'the printer reported the job failed';
    return this.closeJob(job, outcome, reason);
  }

  /**
   * A queue printer that stopped (status error) or whose job failed pauses the whole queue (seed 001
   * §4.3); notices never do. `params` go into the alert so the UI can translate it.
   */
  async pauseForError(printerId: string, message: string, params: Record<string, unknown> = {}): Promise<void> {
    const { store, bus, fleet } = this.d;
    const name = fleet.get(printerId)?.summary.name ?? printerId;
    await store.change('paused-printer-error', async (c) => {
      if (!store.running) return c.skipEvent();
      await c.setRunning(false);
    });
    raiseAlert(bus, {
      level: 'error',
      printerId,
      code: 'queue_paused_printer_error',
      message: `${name}: ${message} — the queue is paused; fix the printer and start the queue again`,
      params: { printerName: name, reason: message, ...params },
    });
  }
}
