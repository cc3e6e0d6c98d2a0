/**
 * "Why is nothing printing?" (issue 16): why a waiting item does not start, and why an idle
 * printer gets nothing. Pure functions of the item's fit, the printers' fit and gates, the queue's
 * running switch and filament matches; every answer has a stable code, English text and params.
 *
 * An item's reason, in this order: nothing can ever take it (`no_printer_fits`, or a printer has not
 * said what it is yet), the filaments are not loaded anywhere (`no_ams_match`), the queue is paused,
 * then what its fitting printers are doing: one will be free after its job (`printers_busy`), after
 * its cooldown (`printers_cooling_down`), after a person clears its plate (`plate_clear_wanted`), or
 * every one is offline/unknown/in error/disabled (`printers_unavailable`). An item with a fitting
 * printer whose gate is open gets null: it starts in the next decision round.
 */
import { noFitReason, fitProblem, type WaitReason } from './fit.ts';
import type { FitSpec, GateResult } from './types.ts';

export type { WaitReason };

/** A printer as the reasons see it. */
export interface ReasonPrinter {
  id: string;
  name: string;
  fit: FitSpec;
  gate: GateResult;
}

/** What filament matching says for one printer (null = matches or does not apply). */
export type FilamentMiss = Array<{ slot: number; type: string; color: string | null }>;

export interface ReasonItem {
  fit: FitSpec;
  printerIds: string[] | null;
  /** Filaments this item misses on a printer (empty = all loaded / not applicable). */
  filamentMiss(printerId: string): FilamentMiss;
}

const BUSY_GATES = new Set([
  'printing_queue_job',
  'printer_busy',
  'command_in_flight',
  'dispatch_hold',
  'start_retry_wait',
]);

/** Which family a closed gate belongs to, for an item's reason. */
export function gateFamily(gate: GateResult): 'open' | 'busy' | 'cooling' | 'plate' | 'unavailable' {
  if (gate.open) return 'open';
  if (gate.code && BUSY_GATES.has(gate.code)) return 'busy';
  if (gate.code === 'cooling_down') return 'cooling';
  // A job whose end is unknown is released by the same "plate is clear" confirmation: say that,
  // not "offline, in error or disabled".
  if (gate.code === 'plate_clear_wanted' || gate.code === 'attention') return 'plate';
  return 'unavailable';
}

const names = (ps: ReasonPrinter[]) => ps.map((p) => p.name).join(', ');
/** "PLA #00AE42, PETG": the missing filaments as one placeholder for translated texts. */
const filamentText = (miss: FilamentMiss) => miss.map((m) => `${m.type}${m.color ? ` ${m.color}` : ''}`).join(', ');
const brief = (ps: ReasonPrinter[]) =>
  ps.map((p) => ({ printerId: p.id, printerName: p.name, code: p.gate.code, params: p.gate.params }));

/** Why a waiting item is not printing now, or null when it can start at the next round. */
export function itemWaitingReason(
  item: ReasonItem,
  printers: readonly ReasonPrinter[],
  running: boolean,
): WaitReason | null {
  const allowed = item.printerIds ? printers.filter((p) => item.printerIds!.includes(p.id)) : [...printers];
  if (allowed.length === 0) {
    return {
      code: 'no_printer_fits',
      message: item.printerIds ? 'none of the chosen printers exists any more' : 'there are no printers',
      params: { fileModel: item.fit.model ?? null, fileNozzle: item.fit.nozzleDiameter ?? null, printers: [] },
    };
  }
  const noFit = noFitReason(item.fit, allowed);
  if (noFit) return noFit;
  const fitting = allowed.filter((p) => fitProblem(item.fit, p.fit) === null);
  const loaded = fitting.filter((p) => item.filamentMiss(p.id).length === 0);
  if (loaded.length === 0) {
    const per = fitting.map((p) => ({ printerId: p.id, printerName: p.name, missing: item.filamentMiss(p.id) }));
    const missing = per[0]?.missing ?? [];
    return {
      code: 'no_ams_match',
      message: `the file's filaments are not loaded on any fitting printer (missing ${filamentText(missing)} on ${names(fitting)})`,
      params: { missing, filaments: filamentText(missing), printerNames: names(fitting), printers: per },
    };
  }
  if (!running) return { code: 'queue_paused', message: 'the queue is paused', params: {} };
  const by = {
    open: [] as ReasonPrinter[],
    busy: [] as ReasonPrinter[],
    cooling: [] as ReasonPrinter[],
    plate: [] as ReasonPrinter[],
    unavailable: [] as ReasonPrinter[],
  };
  for (const p of loaded) by[gateFamily(p.gate)].push(p);
  if (by.open.length > 0) return null;
  if (by.busy.length > 0) {
    return {
      code: 'printers_busy',
      message: `every fitting printer is busy (${names(by.busy)})`,
      params: { printerNames: names(by.busy), count: by.busy.length, printers: brief(loaded) },
    };
  }
  if (by.cooling.length > 0) {
    const until =
      by.cooling
        .map((p) => p.gate.params.until as string | undefined)
        .filter((u): u is string => !!u)
        .sort()[0] ?? null;
    return {
      code: 'printers_cooling_down',
      message: `the fitting printers are cooling down after their last job (${names(by.cooling)})`,
      params: { printerNames: names(by.cooling), count: by.cooling.length, printers: brief(loaded), until },
    };
  }
  if (by.plate.length > 0) {
    return {
      code: 'plate_clear_wanted',
      message: `a person must confirm the plate is clear on ${names(by.plate)}`,
      params: { printerNames: names(by.plate), count: by.plate.length, printers: brief(loaded) },
    };
  }
  return {
    code: 'printers_unavailable',
    message: `every fitting printer is unavailable (${loaded.map((p) => `${p.name}: ${p.gate.reason}`).join('; ')})`,
    params: { printerNames: names(loaded), count: loaded.length, printers: brief(loaded) },
  };
}

/** The waiting items as one printer's reason needs them. */
export interface IdleItem {
  fit: FitSpec;
  printerIds: string[] | null;
  filamentMiss(printerId: string): FilamentMiss;
}

/**
 * Why a printer is not printing and gets nothing, or null while it prints or when it gets a job in
 * the next round. `queue_empty`: nothing waits; `queue_paused`; `gate_closed` (params: the gate's
 * code and params); `nothing_fits`: items wait but none fits this printer; `no_ams_match`: some fit
 * but their filaments are not loaded here.
 */
export function printerIdleReason(
  printer: ReasonPrinter & { printing: boolean },
  /** Waiting items, one per distinct (fit, printers, filaments): the answer is the same within a group. */
  waiting: readonly IdleItem[],
  running: boolean,
  waitingCount = waiting.length,
): WaitReason | null {
  if (printer.printing) return null;
  if (waiting.length === 0) return { code: 'queue_empty', message: 'nothing is waiting in the queue', params: {} };
  if (!running) return { code: 'queue_paused', message: 'the queue is paused', params: {} };
  if (!printer.gate.open) {
    return {
      code: 'gate_closed',
      message: printer.gate.reason ?? 'the printer cannot take a job now',
      params: { gateCode: printer.gate.code, ...printer.gate.params },
    };
  }
  let missing: FilamentMiss | null = null;
  for (const item of waiting) {
    if (item.printerIds && !item.printerIds.includes(printer.id)) continue;
    if (fitProblem(item.fit, printer.fit) !== null) continue;
    const miss = item.filamentMiss(printer.id);
    if (miss.length === 0) return null;
    missing ??= miss;
  }
  if (missing) {
    return {
      code: 'no_ams_match',
      message: `waiting items need filament that is not loaded here (${filamentText(missing)})`,
      params: { missing, filaments: filamentText(missing) },
    };
  }
  return {
    code: 'nothing_fits',
    message: `${waitingCount} item(s) wait, but none fits this printer (model, nozzle or file kind)`,
    params: { waiting: waitingCount },
  };
}
