/**
 * Queue ETA: a pure simulation of the waiting copies spread over the printers that can take them.
 * Each copy goes, in queue order, to the compatible printer that frees up first; after each copy
 * that printer waits its plate-swap cooldown. Running prints count with what they have left.
 */
import { type FitSpec, fitKey, fits } from './types.ts';

export interface EtaItem {
  id: string;
  fit: FitSpec;
  printerIds: string[] | null;
  /** Seconds per copy (slicer estimate); null counts as 0. */
  estimatedSeconds: number | null;
  /** Copies not yet started. */
  waitingCopies: number;
  /** Copies printing now. */
  active: { printerId: string; startedAt: number | null; remainingSeconds: number }[];
}

export interface EtaPrinter {
  id: string;
  fit: FitSpec;
  /** ms epoch when the printer can start new work (after its current print and cooldown). */
  freeAt: number;
  cooldownSeconds: number;
}

export interface ItemEta {
  startAt: number | null;
  finishAt: number | null;
}

export interface EtaResult {
  /** Remaining copies of waiting items plus what is left of running prints. */
  remainingSeconds: number;
  /** Now plus the work spread over the printers; null when nothing is left (or nothing can take it). */
  finishAt: number | null;
  items: Map<string, ItemEta>;
}

interface Slot {
  printer: EtaPrinter;
  freeAt: number;
}

/** Min-heap of slots by freeAt; entries may be stale (freeAt only grows) and are refreshed on pop. */
class SlotHeap {
  #a: { slot: Slot; key: number }[] = [];
  push(slot: Slot): void {
    const a = this.#a;
    a.push({ slot, key: slot.freeAt });
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.key <= a[i]!.key) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }
  popEarliest(): Slot | undefined {
    for (;;) {
      const top = this.#pop();
      if (!top) return undefined;
      if (top.key === top.slot.freeAt) return top.slot;
      this.push(top.slot);
    }
  }
  #pop(): { slot: Slot; key: number } | undefined {
    const a = this.#a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.key < a[m]!.key) m = l;
        if (r < a.length && a[r]!.key < a[m]!.key) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

export function estimateQueue(input: { items: EtaItem[]; printers: EtaPrinter[] }, now: number): EtaResult {
  const slots = new Map<string, Slot>();
  for (const p of input.printers) slots.set(p.id, { printer: p, freeAt: Math.max(now, p.freeAt) });
  const heaps = new Map<string, SlotHeap>();
  const heapFor = (fit: FitSpec): SlotHeap => {
    const key = fitKey(fit);
    let heap = heaps.get(key);
    if (!heap) {
      heap = new SlotHeap();
      for (const s of slots.values()) if (fits(fit, s.printer.fit)) heap.push(s);
      heaps.set(key, heap);
    }
    return heap;
  };

  let remainingSeconds = 0;
  let finishAt: number | null = null;
  const items = new Map<string, ItemEta>();
  const later = (a: number | null, b: number) => (a === null || b > a ? b : a);
  const earlier = (a: number | null, b: number) => (a === null || b < a ? b : a);

  for (const item of input.items) {
    const eta: ItemEta = { startAt: null, finishAt: null };
    for (const job of item.active) {
      remainingSeconds += job.remainingSeconds;
      const end = now + job.remainingSeconds * 1000;
      eta.startAt = earlier(eta.startAt, job.startedAt ?? now);
      eta.finishAt = later(eta.finishAt, end);
    }
    const perCopy = Math.max(0, item.estimatedSeconds ?? 0);
    remainingSeconds += perCopy * Math.max(0, item.waitingCopies);
    const explicit = item.printerIds
      ?.map((id) => slots.get(id))
      .filter((s): s is Slot => !!s && fits(item.fit, s.printer.fit));
    const heap = explicit ? null : heapFor(item.fit);
    for (let copy = 0; copy < item.waitingCopies; copy++) {
      const slot = explicit ? earliestOf(explicit) : heap!.popEarliest();
      if (!slot) break;
      const start = slot.freeAt;
      const end = start + perCopy * 1000;
      slot.freeAt = end + slot.printer.cooldownSeconds * 1000;
      if (heap) heap.push(slot);
      eta.startAt = earlier(eta.startAt, start);
      eta.finishAt = later(eta.finishAt, end);
    }
    if (eta.finishAt !== null) finishAt = later(finishAt, eta.finishAt);
    items.set(item.id, eta);
  }
  return { remainingSeconds: Math.round(remainingSeconds), finishAt, items };
}

function earliestOf(slots: Slot[]): Slot | undefined {
  let best: Slot | undefined;
  for (const s of slots) if (!best || s.freeAt < best.freeAt) best = s;
  return best;
}
