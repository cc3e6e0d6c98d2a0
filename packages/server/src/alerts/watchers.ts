import type { EventBus } from '../events/bus.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import { raiseAlert } from './raise.ts';

/** What the watchers need from the queue. */
export interface QueueLook {
  plateNeedsClearing(printerId: string): boolean;
  hasActiveJob(printerId: string): boolean;
}

/**
 * Alerts for two things a person must act on that no other part raises:
 * - `plate_clear_wanted`: a printer whose plate must be cleared before it gets the next job (raised
 *   once when the queue starts waiting for it; the person confirms with POST /queue/printers/:id/
 *   plate-cleared);
 * - `printer_error`: a printer went into error while not printing a queue job (a queue job's error
 *   pauses the queue and raises `queue_paused_printer_error` instead). Once per error episode.
 */
export class OperatorAlertWatch {
  readonly #owner = {};
  readonly #plate = new Set<string>();
  readonly #inError = new Set<string>();

  constructor(private readonly o: { bus: EventBus; fleet: FleetView; queue: QueueLook }) {}

  start(): void {
    // Printers that already wait for a person when the server starts were announced before.
    for (const p of this.o.fleet.list()) {
      if (this.o.queue.plateNeedsClearing(p.summary.id)) this.#plate.add(p.summary.id);
      if (p.state.status === 'error') this.#inError.add(p.summary.id);
    }
    this.o.bus.on('queue.changed', this.#owner, () => this.#checkPlates());
    this.o.bus.on('printer.state', this.#owner, ({ printerId, state }) => {
      if (state.status !== 'error') return void this.#inError.delete(printerId);
      if (this.#inError.has(printerId)) return;
      this.#inError.add(printerId);
      // Give the queue's own handling (job outcome, queue pause) the first word on its jobs.
      if (this.o.queue.hasActiveJob(printerId)) return;
      const p = this.o.fleet.get(printerId);
      const name = p?.summary.name ?? printerId;
      const err = state.error;
      raiseAlert(this.o.bus, {
        level: 'error',
        code: 'printer_error',
        message: `${name} reports an error: ${err?.message ?? 'unknown error'}`,
        params: { printerName: name, errorCode: err?.code ?? null, detail: err?.message ?? null, ...(err?.params ?? {}) },
        printerId,
      });
    });
    this.o.bus.on('printer.removed', this.#owner, ({ printerId }) => {
      this.#plate.delete(printerId);
      this.#inError.delete(printerId);
    });
  }

  stop(): void {
    this.o.bus.removeListeners(this.#owner);
  }

  #checkPlates(): void {
    for (const p of this.o.fleet.list()) {
      const id = p.summary.id;
      const needs = this.o.queue.plateNeedsClearing(id);
      if (!needs) {
        this.#plate.delete(id);
        continue;
      }
      if (this.#plate.has(id)) continue;
      this.#plate.add(id);
      raiseAlert(this.o.bus, {
        level: 'info',
        code: 'plate_clear_wanted',
        message: `${p.summary.name}: clear the plate, then confirm it, so the printer gets the next job`,
        params: { printerName: p.summary.name },
        printerId: id,
      });
    }
  }
}
