/**
 * What the firmware has pushed so far and what it pushes next: deltas are computed against the
 * last push (at boot: the boot state), a full report resets that base; silence drops everything
 * without moving the base, so the first delta after silence carries every change meanwhile.
 */
import { buildPrintSnapshot, computeDelta, deltaReport, fullReport } from './report.ts';
import type { PrintStatus } from './status.ts';

export class ReportPublisher {
  silent = false;
  /** Real ms since the last status push (for the idle cadence). */
  sinceLastPush = 0;
  #lastPushed: Record<string, any>;
  #seq = 400;
  readonly #send: (message: Record<string, any>) => boolean;

  /** `send` returns false when nobody can receive (broker down): nothing is then recorded as pushed. */
  constructor(bootStatus: PrintStatus, send: (message: Record<string, any>) => boolean) {
    this.#lastPushed = buildPrintSnapshot(bootStatus);
    this.#send = send;
  }

  /** Acks and other non-status messages. */
  publish(message: Record<string, any>): void {
    if (!this.silent) this.#send(message);
  }

  full(status: PrintStatus): void {
    if (this.silent) return;
    const snap = buildPrintSnapshot(status);
    if (!this.#send(fullReport(snap, ++this.#seq))) return;
    this.#lastPushed = snap;
    this.sinceLastPush = 0;
  }

  delta(status: PrintStatus): void {
    if (this.silent) return;
    const snap = buildPrintSnapshot(status);
    const delta = computeDelta(this.#lastPushed, snap);
    this.sinceLastPush = 0;
    if (Object.keys(delta).length === 0) return;
    if (this.#send(deltaReport(delta, ++this.#seq))) this.#lastPushed = snap;
  }
}
