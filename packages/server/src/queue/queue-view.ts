/**
 * The queue as the API shows it (docs/api.md, Queue), with the ETA recomputed from the current
 * queue, printer states and time on every read.
 */
import type { JobOverrides } from '../printers/driver.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import type { FileRecord } from '../library/types.ts';
import { fileFit, printerFit } from './dispatcher.ts';
import { type EtaItem, type EtaPrinter, estimateQueue } from './eta.ts';
import { noFitReason, type WaitReason } from './fit.ts';
import { cooldownEndsAt, cooldownSeconds } from './gatekeeper.ts';
import type { QueueStore } from './queue-store.ts';
import type { QueueItemStatus } from './types.ts';

export interface QueueItemView {
  id: string;
  fileId: string;
  fileName: string | null;
  plate: number;
  copies: number;
  copiesDone: number;
  status: QueueItemStatus;
  /** 1-based place in the queue. */
  position: number;
  overrides: JobOverrides;
  /** Explicitly allowed printers; null = every printer the file fits. */
  printerIds: string[] | null;
  /** Seconds per copy (slicer estimate). */
  estimatedSeconds: number | null;
  thumbnailUrl: string | null;
  currentPrinterId: string | null;
  activePrinterIds: string[];
  lastError: string | null;
  /**
   * Why a waiting item cannot start anywhere, with a stable code (fit.ts: `printer_model_unknown`,
   * `printer_nozzle_unknown`, `no_printer_fits`); null when some printer fits it.
   */
  waitingReason: WaitReason | null;
  estimatedStartAt: string | null;
  estimatedFinishAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface QueueView {
  running: boolean;
  items: QueueItemView[];
  remainingSeconds: number;
  finishAt: string | null;
}

const BUSY = new Set(['preparing', 'printing', 'paused']);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function buildQueueView(input: {
  store: QueueStore;
  fleet: FleetView;
  fileOf(fileId: string): FileRecord | null | undefined;
  now: number;
}): QueueView {
  const { store, fleet, now } = input;
  const ordered = store.ordered();
  const plateOf = (fileId: string, plate: number) =>
    input.fileOf(fileId)?.plates.find((p) => p.index === plate) ?? null;

  const etaItems: EtaItem[] = [];
  const jobRemaining = new Map<string, number>();
  for (const item of ordered) {
    if (item.status === 'done' || item.status === 'cancelled') continue;
    const file = input.fileOf(item.fileId);
    if (!file) continue;
    const perCopy = plateOf(item.fileId, item.plate)?.estimatedSeconds ?? null;
    const active = store.activeJobsOf(item.id).map((job) => {
      const state = fleet.get(job.printerId)?.state;
      const shown = state?.job?.jobId === job.jobId && state.remainingSeconds !== null;
      const remainingSeconds = Math.max(0, shown ? state.remainingSeconds! : (perCopy ?? 0));
      jobRemaining.set(job.printerId, remainingSeconds);
      return {
        printerId: job.printerId,
        startedAt: job.startedAt ? Date.parse(job.startedAt) : null,
        remainingSeconds,
      };
    });
    const waitingCopies = item.status === 'failed' ? 0 : Math.max(0, item.copies - item.copiesDone - active.length);
    etaItems.push({
      id: item.id,
      fit: fileFit(file, item.plate),
      printerIds: item.printerIds,
      estimatedSeconds: perCopy,
      waitingCopies,
      active,
    });
  }

  const etaPrinters: EtaPrinter[] = [];
  for (const p of fleet.list()) {
    const s = p.state;
    if (!p.summary.enabled || s.status === 'offline' || s.status === 'connecting') continue;
    const cooldown = cooldownSeconds(p.summary.settings);
    let freeAt = Math.max(now, cooldownEndsAt(s, p.summary.settings) ?? now);
    const queued = jobRemaining.get(p.summary.id);
    if (queued !== undefined) freeAt = now + (queued + cooldown) * 1000;
    else if (BUSY.has(s.status)) freeAt = now + ((s.remainingSeconds ?? 0) + cooldown) * 1000;
    etaPrinters.push({ id: p.summary.id, fit: printerFit(p), freeAt, cooldownSeconds: cooldown });
  }

  const eta = estimateQueue({ items: etaItems, printers: etaPrinters }, now);
  const fleetFits = fleet
    .list()
    .filter((p) => p.summary.enabled)
    .map((p) => ({ id: p.summary.id, name: p.summary.name, fit: printerFit(p) }));
  const waitingReasonOf = (item: (typeof ordered)[number]): WaitReason | null => {
    if (item.status !== 'waiting') return null;
    const file = input.fileOf(item.fileId);
    if (!file) return null;
    const allowed = item.printerIds ? fleetFits.filter((p) => item.printerIds!.includes(p.id)) : fleetFits;
    return noFitReason(fileFit(file, item.plate), allowed);
  };
  const items = ordered.map((item, index): QueueItemView => {
    const plate = plateOf(item.fileId, item.plate);
    const active = store.activeJobsOf(item.id);
    const e = eta.items.get(item.id);
    return {
      id: item.id,
      fileId: item.fileId,
      fileName: input.fileOf(item.fileId)?.name ?? null,
      plate: item.plate,
      copies: item.copies,
      copiesDone: item.copiesDone,
      status: item.status,
      position: index + 1,
      overrides: item.overrides,
      printerIds: item.printerIds,
      estimatedSeconds: plate?.estimatedSeconds ?? null,
      thumbnailUrl: plate?.thumbnailUrl ?? null,
      currentPrinterId: active[0]?.printerId ?? null,
      activePrinterIds: active.map((j) => j.printerId),
      lastError: item.lastError,
      waitingReason: waitingReasonOf(item),
      estimatedStartAt: iso(e?.startAt ?? null),
      estimatedFinishAt: iso(e?.finishAt ?? null),
      createdAt: item.createdAt,
      updatedAt: item.updatedAt,
    };
  });
  return { running: store.running, items, remainingSeconds: eta.remainingSeconds, finishAt: iso(eta.finishAt) };
}
