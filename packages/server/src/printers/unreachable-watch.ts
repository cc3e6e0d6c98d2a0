import { raiseAlert } from '../alerts/raise.ts';
import type { EventBus } from '../events/bus.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';
import { type ConnectionIssue, issue, issueFromNote } from './connection-issue.ts';
import type { FleetView } from './fleet-types.ts';
import type { PrinterState } from './model.ts';

/** What one printer's outage tracker does with a new state (pure). */
export type OutageStep = 'start' | 'continue' | 'end' | 'none';

const DOWN = new Set(['offline', 'connecting']);
/** States that prove the link works; `unknown` (connected but silent) proves nothing either way. */
const UP = new Set(['idle', 'preparing', 'printing', 'paused', 'finished', 'error']);

/** Pure: given whether an outage is open, what the new status means for it. */
export function outageStep(open: boolean, status: PrinterState['status']): OutageStep {
  if (DOWN.has(status)) return open ? 'continue' : 'start';
  if (UP.has(status)) return open ? 'end' : 'none';
  return open ? 'continue' : 'none';
}

interface Outage {
  since: number;
  timer: TimerHandle | null;
  raised: boolean;
  /** Times the alert waited for a reason better than "the connection was lost". */
  waits: number;
}

/**
 * Raises `printer_unreachable` ONCE per outage: when an enabled printer has been offline or
 * connecting for `afterSeconds`, however many reconnect attempts happen meanwhile. The outage ends
 * only when the printer is really back (idle, printing, …); the next outage may raise again.
 */
export class UnreachableWatch {
  readonly #outages = new Map<string, Outage>();
  readonly #owner = {};

  constructor(private readonly o: { bus: EventBus; clock: Clock; fleet: FleetView; afterSeconds: number }) {}

  start(): void {
    this.o.bus.on('printer.state', this.#owner, ({ printerId, state }) => this.#onState(printerId, state));
    this.o.bus.on('printer.removed', this.#owner, ({ printerId }) => this.#end(printerId));
    // Printers already down when the watch starts (the fleet started first).
    for (const p of this.o.fleet.list()) this.#onState(p.summary.id, p.state);
  }

  stop(): void {
    this.o.bus.removeListeners(this.#owner);
    for (const id of [...this.#outages.keys()]) this.#end(id);
  }

  #onState(printerId: string, state: PrinterState): void {
    const enabled = this.o.fleet.get(printerId)?.summary.enabled ?? false;
    const open = this.#outages.has(printerId);
    if (!enabled) return void (open && this.#end(printerId));
    const step = outageStep(open, state.status);
    if (step === 'start') {
      const outage: Outage = { since: this.o.clock.now(), timer: null, raised: false, waits: 0 };
      outage.timer = this.o.clock.setTimeout(() => this.#check(printerId), this.o.afterSeconds * 1000);
      this.#outages.set(printerId, outage);
    } else if (step === 'end') this.#end(printerId);
  }

  #end(printerId: string): void {
    const o = this.#outages.get(printerId);
    if (!o) return;
    this.o.clock.clearTimeout(o.timer);
    this.#outages.delete(printerId);
  }

  #check(printerId: string): void {
    const outage = this.#outages.get(printerId);
    const p = this.o.fleet.get(printerId);
    if (!outage || outage.raised || !p) return;
    outage.timer = null;
    if (!DOWN.has(p.state.status) || !p.summary.enabled) return;
    const why: ConnectionIssue =
      p.state.connectionIssue ?? issueFromNote(p.state.connectionNote, p.state.status) ?? issue('timeout', { seconds: this.o.afterSeconds });
    // Right after a drop the driver knows only that the link was lost; its first reconnect attempt
    // says why (refused, timeout, …), which is what a person can act on. Wait for it a little.
    if (why.code === 'disconnected' && outage.waits < 10) {
      outage.waits++;
      outage.timer = this.o.clock.setTimeout(() => this.#check(printerId), 1000);
      return;
    }
    outage.raised = true;
    raiseAlert(this.o.bus, {
      level: 'warning',
      code: 'printer_unreachable',
      message: `${p.summary.name} is unreachable: ${why.message}`,
      params: { printerName: p.summary.name, reason: why.code, reasonParams: why.params, detail: why.message, sinceSeconds: this.o.afterSeconds },
      printerId,
    });
  }
}
