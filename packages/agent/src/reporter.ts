/**
 * Splits the local printers' state stream in two: a change of status, job, error or connection is
 * an event (journaled, sent in order, replayed after a drop); everything else (progress,
 * temperatures, …) is telemetry, of which only the latest value matters, batched per tick.
 */
import type { TelemetryMessage } from '@rwc/server/agents/protocol.ts';
import { shiftTimes, significantKey, telemetryDelta } from '@rwc/server/agents/wire-state.ts';
import type { PrinterState } from '@rwc/server/printers/model.ts';
import type { EventJournal } from './journal.ts';

export class StateReporter {
  #journal: EventJournal;
  #now: () => number;
  #key = new Map<string, string>();
  #latest = new Map<string, PrinterState>();
  /** What the server has (or will have once it applied the journal) per printer. */
  #sent = new Map<string, PrinterState>();
  #dirty = new Set<string>();

  constructor(journal: EventJournal, now: () => number = Date.now) {
    this.#journal = journal;
    this.#now = now;
  }

  /** Records a state from a local driver; true when it became a journal event. */
  onState(printerId: string, state: PrinterState): boolean {
    this.#latest.set(printerId, state);
    const key = significantKey(state);
    if (this.#key.get(printerId) === key) {
      this.#dirty.add(printerId);
      return false;
    }
    this.#key.set(printerId, key);
    this.#journal.append({ kind: 'state', printerId, at: this.#now(), state });
    this.#sent.set(printerId, state);
    this.#dirty.delete(printerId);
    return true;
  }

  /**
   * The telemetry message for this tick (times shifted to the server's clock), or null when nothing
   * changed. `full` sends every printer's complete state (after a replay, and now and then).
   */
  telemetry(offsetMs: number, full: boolean): TelemetryMessage | null {
    const printers: TelemetryMessage['printers'] = {};
    let any = false;
    for (const [id, state] of this.#latest) {
      if (!full && !this.#dirty.has(id)) continue;
      const shifted = shiftTimes(state, offsetMs);
      const delta = full ? shifted : telemetryDelta(this.#sent.has(id) ? shiftTimes(this.#sent.get(id)!, offsetMs) : null, shifted);
      this.#sent.set(id, state);
      if (!delta) continue;
      printers[id] = delta;
      any = true;
    }
    this.#dirty.clear();
    if (!any && !full) return null;
    return { afterSeq: this.#journal.lastSeq, at: this.#now() + offsetMs, full, printers };
  }
}
