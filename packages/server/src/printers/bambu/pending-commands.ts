/**
 * Commands waiting for the printer to confirm them. A command is confirmed by its ack
 * (`sequence_id` echo with `result: success`, when `ackConfirms`) or by the state it should cause;
 * a failed ack rejects it, and so does an echo of our `sequence_id` with a non-zero `err_code`
 * (current firmware refuses that way, without `result`; 84033543 = 0x05024007 is Authorization
 * Control's verify-failed). An ack without `result` and without `err_code` is inconclusive (P1S
 * 01.10, pitfall 16).
 * Timeouts run on the injected clock.
 */
import type { Clock, TimerHandle } from '../../util/clock.ts';
import { DriverError } from '../driver.ts';
import { isVerifyFailedReason, VERIFY_FAILED_ERR_CODE, VERIFY_FAILED_MESSAGE } from './errors.ts';
import type { BambuReport } from './report.ts';

export interface PendingSpec {
  sequenceId: string;
  command: string;
  /** A success ack alone confirms the command. */
  ackConfirms: boolean;
  /** The state that confirms the command (checked on every status report). */
  confirmedBy?: (report: BambuReport) => boolean;
  /** A state that means the printer refused it (e.g. busy print_error after project_file). */
  refusedBy?: (report: BambuReport) => DriverError | null;
  timeoutMs: number;
  onTimeout: () => DriverError;
}

interface Pending extends PendingSpec {
  resolve: () => void;
  reject: (err: DriverError) => void;
  timer: TimerHandle;
}

export class PendingCommands {
  readonly #clock: Clock;
  readonly #pending = new Set<Pending>();
  /** Called when an ack says "mqtt message verify failed" (Authorization Control is on). */
  onVerifyFailed: () => void = () => {};

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  wait(spec: PendingSpec): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = {
        ...spec,
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => this.#settle(entry, spec.onTimeout()), spec.timeoutMs),
      };
      this.#pending.add(entry);
    });
  }

  /** Rejects a waiting command, e.g. when publishing it failed. */
  fail(sequenceId: string, err: DriverError): void {
    for (const p of this.#pending) if (p.sequenceId === sequenceId) this.#settle(p, err);
  }

  onAck(ack: {
    command: string;
    sequenceId: string | null;
    result: string | null;
    reason: string | null;
    errCode?: number | null;
  }): void {
    for (const p of this.#pending) {
      if (ack.sequenceId !== p.sequenceId) continue;
      if (ack.errCode) {
        this.#settle(p, refusalFor(p.command, ack.errCode, ack.reason));
        if (ack.errCode === VERIFY_FAILED_ERR_CODE) this.onVerifyFailed();
      } else if (ack.result === 'failed' || ack.result === 'fail' || ack.result === 'error') {
        if (isVerifyFailedReason(ack.reason)) {
          this.onVerifyFailed();
          this.#settle(p, new DriverError('verify_failed', VERIFY_FAILED_MESSAGE, { command: p.command }));
        } else {
          this.#settle(
            p,
            new DriverError('command_refused', `the printer refused ${p.command}: ${ack.reason || 'failed'}`, {
              command: p.command,
              reason: ack.reason || 'failed',
            }),
          );
        }
      } else if (ack.result === 'success' && p.ackConfirms) {
        this.#settle(p, null);
      }
    }
  }

  onReport(report: BambuReport): void {
    for (const p of this.#pending) {
      const refused = p.refusedBy?.(report) ?? null;
      if (refused) this.#settle(p, refused);
      else if (p.confirmedBy?.(report)) this.#settle(p, null);
    }
  }

  /**
   * The driver stops: every waiting command ends as "not confirmed" (its timeout error), so a start
   * that already went out surfaces as StartNotConfirmedError and is never blindly re-sent.
   */
  abandonAll(): void {
    for (const p of this.#pending) this.#settle(p, p.onTimeout());
  }

  #settle(p: Pending, err: DriverError | null): void {
    if (!this.#pending.delete(p)) return;
    this.#clock.clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve();
  }
}

const hex8 = (n: number) => `0x${(n >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;

/** The refusal an `err_code` echo means for a command (see the header comment). */
export function refusalFor(command: string, errCode: number, reason: string | null = null): DriverError {
  const params = { command, errCode, errCodeHex: hex8(errCode) };
  if (errCode === VERIFY_FAILED_ERR_CODE) return new DriverError('verify_failed', VERIFY_FAILED_MESSAGE, params);
  return new DriverError(
    'command_refused',
    `the printer refused ${command} (err_code ${errCode} = ${hex8(errCode)}${reason ? `: ${reason}` : ''})`,
    params,
  );
}
