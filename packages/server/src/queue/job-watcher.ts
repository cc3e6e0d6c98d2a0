/**
 * Turns printer reports into queue facts: a job's end (lastJob with our job id), a printer error
 * during a queue print (pauses the queue), a job that vanished, the recovery of a printer whose
 * start was not confirmed, and — after a restart — the reconciliation of jobs that were starting
 * or printing when the server went down (decided on the printer's first trustworthy report).
 */
import type { FleetView } from '../printers/fleet-types.ts';
import type { PrinterState } from '../printers/model.ts';
import type { Clock } from '../util/clock.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { QueueStore } from './queue-store.ts';
import type { JobRecord } from './types.ts';

const ACTIVE_STATUSES = new Set(['preparing', 'printing', 'paused', 'error']);

const trustworthy = (s: PrinterState) =>
  s.fullStatus && !s.stale && s.status !== 'offline' && s.status !== 'connecting' && s.status !== 'unknown';

export class JobWatcher {
  constructor(private readonly d: { store: QueueStore; fleet: FleetView; clock: Clock; dispatcher: Dispatcher }) {}

  /** Jobs that were starting/printing when the server stopped wait for their printer's report. */
  beginReconcile(): void {
    const { store, dispatcher, fleet } = this.d;
    for (const job of store.activeJobs.values()) {
      // Scale-out: jobs on printers owned elsewhere are that process's; a takeover reconciles them.
      if (fleet.get(job.printerId) && !(fleet.isLocal?.(job.printerId) ?? true)) continue;
      if (!fleet.get(job.printerId)) {
        dispatcher.track(dispatcher.outcomes.markUnknown(job, 'was running on a printer that no longer exists'));
        continue;
      }
      const rt = dispatcher.runtime(job.printerId);
      (rt.reconcile ??= []).push(job);
    }
  }

  onState(printerId: string, state: PrinterState): void {
    const { store, dispatcher, fleet } = this.d;
    if (!(fleet.isLocal?.(printerId) ?? true)) return;
    const rt = dispatcher.runtime(printerId);
    const prevLastJobAt = rt.lastJobAt;
    rt.lastJobAt = state.lastJob?.at ?? null;

    if (rt.reconcile) {
      if (!trustworthy(state)) return;
      const jobs = rt.reconcile;
      rt.reconcile = null;
      dispatcher.track(this.#reconcile(jobs, state).finally(() => dispatcher.requestRound()));
      return;
    }

    const snc = rt.startNotConfirmed;
    if (snc) {
      // A reconnect, or reports that stopped and came back, is what makes the next idle report fresh;
      // an idle report on the same session may still be the printer sitting on its old state (§4 #7).
      if (!trustworthy(state)) snc.sawReset = true;
      if (state.job?.jobId === snc.job.jobId && ACTIVE_STATUSES.has(state.status)) {
        // The start did land after all: follow the job instead of leaving it unknown.
        dispatcher.track(dispatcher.releaseStartHold(printerId).then(() => dispatcher.outcomes.adopt(snc.job, 'unknown')));
      } else if (snc.sawReset && trustworthy(state) && state.status === 'idle') {
        dispatcher.track(dispatcher.releaseStartHold(printerId));
      }
    }

    const job = store.activeJobOn(printerId);
    if (job && state.job?.jobId === job.jobId && state.progress !== null)
      dispatcher.outcomes.noteProgress(job.id, state.progress);
    if (job) {
      // The queue pauses when a queue printer STOPS (status error: stopped with a cause) or its job
      // fails; a notice (state.notices, e.g. an HMS note while printing) never pauses it.
      if ((state.error || state.status === 'error') && rt.errorHandledFor !== job.jobId) {
        rt.errorHandledFor = job.jobId;
        dispatcher.track(
          dispatcher.outcomes.pauseForError(printerId, state.error?.message ?? 'printer error', {
            error: state.error?.code ?? null,
            jobId: job.jobId,
          }),
        );
      }
      if (state.lastJob && state.lastJob.jobId === job.jobId) {
        if (state.lastJob.outcome === 'failed' && rt.errorHandledFor !== job.jobId) {
          rt.errorHandledFor = job.jobId;
          dispatcher.track(
            dispatcher.outcomes.pauseForError(printerId, `job ${job.jobId} failed on the printer`, {
              error: 'job_failed',
              jobId: job.jobId,
            }),
          );
        }
        dispatcher.track(dispatcher.outcomes.endJob(job, state.lastJob.outcome));
      } else if (this.#vanished(job, state, rt.inFlight, rt.holdUntil)) {
        dispatcher.track(
          dispatcher.outcomes.endJob(job, 'failed', 'the printer went idle without reporting how the job ended'),
        );
      }
    } else if (prevLastJobAt !== undefined && state.lastJob && state.lastJob.at !== prevLastJobAt) {
      // A job started elsewhere (screen, slicer) ended here: its plate needs clearing too.
      const p = fleet.get(printerId);
      if (p?.summary.settings.requirePlateClear && !store.plateNeedsClearing.has(printerId)) {
        dispatcher.track(store.change('plate-needs-clearing', (c) => c.setPlateNeedsClearing(printerId, true)));
      }
    }
    // Progress and temperature reports (most of them) cannot open a gate: only decide on a change
    // that can, so a large fleet reporting every second does not run a round per report.
    const gateKey = `${state.status}|${state.fullStatus}|${state.stale}|${state.error?.code ?? ''}|${state.lastJob?.at ?? ''}|${state.job?.jobId ?? ''}`;
    if (gateKey !== rt.gateKey) {
      rt.gateKey = gateKey;
      dispatcher.requestRound();
    }
  }

  /** Printing, past the hold, and the printer sits idle showing neither our job nor its end. */
  #vanished(job: JobRecord, state: PrinterState, inFlight: boolean, holdUntil: number | null): boolean {
    if (job.status !== 'printing' || inFlight) return false;
    if (holdUntil !== null && this.d.clock.now() < holdUntil) return false;
    if (!trustworthy(state) || state.status !== 'idle') return false;
    return state.job?.jobId !== job.jobId;
  }

  async #reconcile(jobs: JobRecord[], state: PrinterState): Promise<void> {
    const { dispatcher } = this.d;
    for (const job of jobs) {
      if (state.job?.jobId === job.jobId && state.status !== 'idle') {
        if (job.status === 'starting') await dispatcher.outcomes.adopt(job, 'starting');
      } else if (state.lastJob?.jobId === job.jobId) {
        await dispatcher.outcomes.endJob(job, state.lastJob.outcome);
      } else if (state.job?.jobId === job.jobId) {
        // Shown but idle without an end record: adopt, the vanished-job rule decides later.
        if (job.status === 'starting') await dispatcher.outcomes.adopt(job, 'starting');
      } else if (job.status === 'starting' && job.sentAt === null) {
        // The server stopped before the start command went out (during the upload, say): the printer
        // never got it, so the copy simply goes back to the queue.
        await dispatcher.outcomes.closeJob(job, 'cancelled', 'the server restarted before the start command was sent', {
          failItem: false,
          neverSent: true,
        });
      } else {
        await dispatcher.outcomes.markUnknown(
          job,
          `was ${job.status} before the server restarted and the printer does not show it`,
          'restart',
        );
      }
    }
  }
}
