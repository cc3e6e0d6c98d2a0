/**
 * The queue as the API shows it (docs/api.md, Queue), with the ETA recomputed from the current
 * queue, printer states and time on every read.
 */
import type { JobOverrides } from '../printers/driver.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import type { FilamentUse, FileRecord } from '../library/types.ts';
import type { PrinterFilament } from '../printers/model.ts';
import { filamentKey, filamentSlots, planAms } from './ams-match.ts';
import { itemFit, plateFilaments, printerFit } from './dispatcher.ts';
import { type EtaItem, type EtaPrinter, estimateQueue } from './eta.ts';
import type { WaitReason } from './fit.ts';
import { cooldownEndsAt, cooldownSeconds } from './gatekeeper.ts';
import type { QueueStore } from './queue-store.ts';
import { type GateResult, type QueueItemRecord, type QueueItemStatus, copiesLeft, fitKey } from './types.ts';
import {
  type FilamentMiss,
  type IdleItem,
  type ReasonPrinter,
  itemWaitingReason,
  printerIdleReason,
} from './wait-reasons.ts';

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
   * Why a waiting item is not printing now, with a stable code (wait-reasons.ts); null when it
   * prints or starts at the next decision round.
   */
  waitingReason: WaitReason | null;
  estimatedStartAt: string | null;
  estimatedFinishAt: string | null;
  createdAt: string;
  updatedAt: string;
  copiesCancelled: number;
  copiesFailed: number;
  activeJobs: Array<{
    id: string;
    printerId: string;
    printerName: string | null;
    status: string;
    startedAt: string | null;
  }>;
  /** Explicit AMS mapping, null = automatic. */
  amsMapping: number[] | null;
  /** The plate's filaments (slot = the file's filament id). */
  filaments: Array<{ slot: number; type: string; color: string | null; grams: number | null }>;
}

/** Why an idle printer gets nothing (wait-reasons.printerIdleReason). */
export interface PrinterIdleView {
  printerId: string;
  printerName: string;
  idleReason: WaitReason | null;
}

export interface QueueView {
  running: boolean;
  items: QueueItemView[];
  remainingSeconds: number;
  finishAt: string | null;
  printers: PrinterIdleView[];
}

/** Codes for which an item can never start as things are: left out of the ETA. */
const NEVER = new Set(['no_printer_fits', 'no_ams_match']);

const BUSY = new Set(['preparing', 'printing', 'paused']);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Waiting items grouped by equal needs (fit, chosen printers, filaments): each group is decided once. */
export interface WaitingGroup extends IdleItem {
  /** Ids of the items in this group. */
  itemIds: string[];
}

/**
 * Groups the items that still have copies to start. `filamentOf` is read when a group is asked
 * (live AMS state); answers are cached per printer only for the life of the returned groups.
 */
export function waitingGroups(input: {
  items: readonly QueueItemRecord[];
  fileOf(fileId: string): FileRecord | null | undefined;
  activeCount: ReadonlyMap<string, number>;
  filamentOf(printerId: string): PrinterFilament | null | undefined;
  cacheMisses?: boolean;
}): { groups: WaitingGroup[]; count: number } {
  const missFor = (filaments: FilamentUse[], explicit: number[] | null) => {
    const cache = input.cacheMisses ? new Map<string, FilamentMiss>() : null;
    return (printerId: string): FilamentMiss => {
      const hit = cache?.get(printerId);
      if (hit) return hit;
      const plan = planAms(filaments, input.filamentOf(printerId), explicit);
      const miss = plan.ok ? [] : plan.missing;
      cache?.set(printerId, miss);
      return miss;
    };
  };
  const groups = new Map<string, WaitingGroup>();
  let count = 0;
  for (const item of input.items) {
    if (item.status !== 'waiting' && item.status !== 'printing') continue;
    const file = input.fileOf(item.fileId);
    if (!file) continue;
    if (copiesLeft(item) - (input.activeCount.get(item.id) ?? 0) <= 0) continue;
    count++;
    const fit = itemFit(file, item);
    const filaments = plateFilaments(file, item.plate);
    const key = `${fitKey(fit)}|${JSON.stringify(item.printerIds)}|${filamentKey(filaments, item.amsMapping)}`;
    let g = groups.get(key);
    if (!g) {
      g = { fit, printerIds: item.printerIds, filamentMiss: missFor(filaments, item.amsMapping), itemIds: [] };
      groups.set(key, g);
    }
    g.itemIds.push(item.id);
  }
  return { groups: [...groups.values()], count };
}

/** A printer's queue-side facts for the reasons. */
export function reasonPrinters(fleet: FleetView, gateOf: (printerId: string) => GateResult): ReasonPrinter[] {
  return fleet
    .list()
    .map((p) => ({ id: p.summary.id, name: p.summary.name, fit: printerFit(p), gate: gateOf(p.summary.id) }));
}

/** Is the printer printing (a queue job, or its own status says so)? Then it has no idle reason. */
export function isPrinting(fleet: FleetView, busyPrinters: ReadonlySet<string>, printerId: string): boolean {
  const state = fleet.get(printerId)?.state;
  return busyPrinters.has(printerId) || (!!state && BUSY.has(state.status));
}

/** Reasons for every waiting item and idle printer. */
export function computeReasons(input: {
  items: readonly QueueItemRecord[];
  fleet: FleetView;
  fileOf(fileId: string): FileRecord | null | undefined;
  gateOf(printerId: string): GateResult;
  running: boolean;
  /** Printers with a queue job starting/printing. */
  busyPrinters: ReadonlySet<string>;
  /** Active (starting/printing) jobs per item id. */
  activeCount: ReadonlyMap<string, number>;
}): { items: Map<string, WaitReason | null>; printers: PrinterIdleView[] } {
  const { fleet } = input;
  const printers = reasonPrinters(fleet, input.gateOf);
  const { groups, count } = waitingGroups({
    items: input.items,
    fileOf: input.fileOf,
    activeCount: input.activeCount,
    filamentOf: (id) => fleet.get(id)?.state.filament ?? null,
    cacheMisses: true,
  });
  const reasons = new Map<string, WaitReason | null>();
  for (const g of groups) {
    const reason = itemWaitingReason(g, printers, input.running);
    for (const id of g.itemIds) reasons.set(id, reason);
  }
  const idle = printers.map((p) => ({
    printerId: p.id,
    printerName: p.name,
    idleReason: printerIdleReason(
      { ...p, printing: isPrinting(fleet, input.busyPrinters, p.id) },
      groups,
      input.running,
      count,
    ),
  }));
  return { items: reasons, printers: idle };
}

export function buildQueueView(input: {
  store: QueueStore;
  fleet: FleetView;
  fileOf(fileId: string): FileRecord | null | undefined;
  gateOf(printerId: string): GateResult;
  now: number;
}): QueueView {
  const { store, fleet, now } = input;
  const ordered = store.ordered();
  const plateOf = (fileId: string, plate: number) =>
    input.fileOf(fileId)?.plates.find((p) => p.index === plate) ?? null;
  const reasons = computeReasons({
    items: ordered,
    fleet,
    fileOf: input.fileOf,
    gateOf: input.gateOf,
    running: store.running,
    busyPrinters: new Set([...store.activeJobs.values()].map((j) => j.printerId)),
    activeCount: store.activeCountByItem(),
  });

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
    const never = NEVER.has(reasons.items.get(item.id)?.code ?? '');
    const waitingCopies = item.status === 'failed' || never ? 0 : Math.max(0, copiesLeft(item) - active.length);
    etaItems.push({
      id: item.id,
      fit: itemFit(file, item),
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
      waitingReason: reasons.items.get(item.id) ?? null,
      estimatedStartAt: iso(e?.startAt ?? null),
      estimatedFinishAt: iso(e?.finishAt ?? null),
      createdAt: item.createdAt,
      updatedAt: item.updatedAt,
      copiesCancelled: item.copiesCancelled,
      copiesFailed: item.copiesFailed,
      activeJobs: active.map((j) => ({
        id: j.id,
        printerId: j.printerId,
        printerName: fleet.get(j.printerId)?.summary.name ?? j.printerName ?? null,
        status: j.status,
        startedAt: j.startedAt,
      })),
      amsMapping: item.amsMapping,
      filaments: filamentSlots(plate?.filaments ?? []).map((f) => ({
        slot: f.slot,
        type: f.type,
        color: f.color,
        grams: f.grams,
      })),
    };
  });
  return {
    running: store.running,
    items,
    remainingSeconds: eta.remainingSeconds,
    finishAt: iso(eta.finishAt),
    printers: reasons.printers,
  };
}
