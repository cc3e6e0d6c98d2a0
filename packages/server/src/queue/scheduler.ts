/**
 * The scheduler: a pure function (queue, printers, now) -> assignments. It never guesses: a
 * printer gets work only through an open gate, and only work that fits it.
 *
 * O(items + printers): open printers are grouped once per distinct fit requirement (model,
 * nozzle) of the waiting items, and each group is consumed front to back, so no item scans the
 * whole fleet.
 */
import { type GateInput, evaluateGate } from './gatekeeper.ts';
import { type FitSpec, type GateResult, fitKey, fits } from './types.ts';

export interface SchedulerItem {
  id: string;
  fit: FitSpec;
  /** Explicitly allowed printers, or null for every printer the file fits. */
  printerIds: string[] | null;
  /** Copies that still need a printer (copies - done - active). */
  toStart: number;
  /**
   * Items with the same key accept the same printers (filament needs); with `accepts`, a printer
   * that `accepts` refuses (its loaded filament does not match) is never given this item.
   */
  acceptsKey?: string;
  accepts?: (printerId: string) => boolean;
}

export interface SchedulerPrinter {
  id: string;
  fit: FitSpec;
  gate: GateInput;
}

export interface SchedulerInput {
  running: boolean;
  /** In queue order; only items that may still start copies. */
  items: SchedulerItem[];
  printers: SchedulerPrinter[];
}

export interface Assignment {
  printerId: string;
  itemId: string;
}

export interface SchedulerResult {
  assignments: Assignment[];
  gates: Map<string, GateResult>;
}

/** A list of open printers consumed front to back; printers taken elsewhere are skipped. */
class PrinterPool {
  #next = 0;
  constructor(readonly printers: SchedulerPrinter[]) {}
  take(taken: Set<string>): SchedulerPrinter | undefined {
    while (this.#next < this.printers.length) {
      const p = this.printers[this.#next++]!;
      if (!taken.has(p.id)) return p;
    }
    return undefined;
  }
}

export function schedule(input: SchedulerInput, now: number): SchedulerResult {
  const gates = new Map<string, GateResult>();
  const open: SchedulerPrinter[] = [];
  const byId = new Map<string, SchedulerPrinter>();
  for (const p of input.printers) {
    const gate = evaluateGate(p.gate, now);
    gates.set(p.id, gate);
    if (gate.open) {
      open.push(p);
      byId.set(p.id, p);
    }
  }
  const assignments: Assignment[] = [];
  if (!input.running || open.length === 0) return { assignments, gates };

  const taken = new Set<string>();
  const pools = new Map<string, PrinterPool>();
  const poolFor = (item: SchedulerItem): PrinterPool => {
    const key = `${fitKey(item.fit)}#${item.accepts ? (item.acceptsKey ?? item.id) : ''}`;
    let pool = pools.get(key);
    if (!pool) {
      pool = new PrinterPool(open.filter((p) => fits(item.fit, p.fit) && (!item.accepts || item.accepts(p.id))));
      pools.set(key, pool);
    }
    return pool;
  };

  for (const item of input.items) {
    if (taken.size === open.length) break;
    let left = item.toStart;
    if (left <= 0) continue;
    if (item.printerIds) {
      for (const id of item.printerIds) {
        if (left === 0) break;
        const p = byId.get(id);
        if (!p || taken.has(id) || !fits(item.fit, p.fit) || (item.accepts && !item.accepts(id))) continue;
        taken.add(id);
        assignments.push({ printerId: id, itemId: item.id });
        left--;
      }
      continue;
    }
    const pool = poolFor(item);
    while (left > 0) {
      const p = pool.take(taken);
      if (!p) break;
      taken.add(p.id);
      assignments.push({ printerId: p.id, itemId: item.id });
      left--;
    }
  }
  return { assignments, gates };
}
