/**
 * The safe-print gatekeeper: may this printer receive a new job right now? A pure function of the
 * printer's state, what the queue knows about it, and the time. Every closed gate says why.
 *
 * Protocol facts behind the rules (docs/bambu-protocol.md §1.5, §1.13, §4):
 * - a state is only trusted after a full report since the last (re)connect (`fullStatus`);
 * - sending a start to a busy Bambu printer can cancel its running job (A1 mini), so only `idle`
 *   (or `finished`: FINISH stays until the next job or a reboot) is ready;
 * - FINISH is reported after the end G-code (plate swap) ran; the cooldown counts from that report;
 * - after a start the printer may keep showing its old state for a while: a post-dispatch hold.
 */
import type { PrinterState, PrinterSettings } from '../printers/model.ts';
import { decodeAttention } from './attention.ts';
import { type GateResult, closedGate, openGate } from './types.ts';

export const DEFAULT_SWAP_COOLDOWN_SECONDS = 90;

/** What the queue itself knows about one printer, besides the printer's own state. */
export interface PrinterQueueFlags {
  /** A start command is being sent (upload + start) and has not resolved yet. */
  commandInFlight: boolean;
  /** ms epoch until which the printer is held after a confirmed start; null = no hold. */
  holdUntil: number | null;
  /** A queue job is starting or printing on this printer. */
  activeJobId: string | null;
  /** The last start was never confirmed; open again once a fresh full report shows it idle. */
  startNotConfirmed: boolean;
  /** Persisted: a job ended here and nobody confirmed the plate is clear yet. */
  plateNeedsClearing: boolean;
  /** Persisted: something needs a person (e.g. a job whose outcome is unknown after a restart). */
  attention: string | null;
  /** A job from before the restart is waiting for this printer's first full report. */
  reconciling: boolean;
  /** A start failed before it went out (upload error, rejected file): retry after this ms epoch. */
  retryAfter: { at: number; message: string } | null;
}

export const noFlags: PrinterQueueFlags = {
  commandInFlight: false,
  holdUntil: null,
  activeJobId: null,
  startNotConfirmed: false,
  plateNeedsClearing: false,
  attention: null,
  reconciling: false,
  retryAfter: null,
};

export interface GateInput {
  enabled: boolean;
  state: Pick<PrinterState, 'status' | 'fullStatus' | 'stale' | 'error' | 'lastJob'>;
  settings: Pick<PrinterSettings, 'swapCooldownSeconds' | 'requirePlateClear'>;
  flags: PrinterQueueFlags;
}

export function cooldownSeconds(settings: Partial<Pick<PrinterSettings, 'swapCooldownSeconds'>>): number {
  const s = settings.swapCooldownSeconds;
  return typeof s === 'number' && Number.isFinite(s) && s >= 0 ? s : DEFAULT_SWAP_COOLDOWN_SECONDS;
}

/** ms epoch when the plate-swap cooldown after the last job ends, or null when there was no job. */
export function cooldownEndsAt(
  state: Pick<PrinterState, 'lastJob'>,
  settings: Partial<Pick<PrinterSettings, 'swapCooldownSeconds'>>,
): number | null {
  if (!state.lastJob) return null;
  return state.lastJob.at + cooldownSeconds(settings) * 1000;
}

const secondsLeft = (until: number, now: number) => Math.max(1, Math.ceil((until - now) / 1000));

export function evaluateGate(input: GateInput, now: number): GateResult {
  const { state, flags, settings } = input;
  if (!input.enabled) return closedGate('disabled', 'printer is disabled');
  if (state.status === 'offline') return closedGate('offline', 'not connected');
  if (state.status === 'connecting') return closedGate('connecting', 'connecting');
  if (flags.reconciling) return closedGate('reconciling', 'checking a job from before the restart');
  if (!state.fullStatus) return closedGate('no_full_status', 'waiting for a full status report');
  if (state.stale) return closedGate('stale', 'status reports are stale');
  if (flags.attention) {
    const why = decodeAttention(flags.attention);
    // `detail` is the coded reason when there is one (the UI translates it), else the bare text.
    return closedGate('attention', why.message, { detail: why.code ? why : why.message });
  }
  if (flags.startNotConfirmed) return closedGate('start_not_confirmed', 'start not confirmed — check the printer');
  if (state.error) {
    return closedGate('printer_error', `printer error: ${state.error.message}`, {
      error: state.error.code,
      detail: state.error.message,
    });
  }
  if (flags.commandInFlight) return closedGate('command_in_flight', 'a start command is in flight');
  if (flags.activeJobId) {
    return closedGate('printing_queue_job', `printing queue job ${flags.activeJobId}`, { jobId: flags.activeJobId });
  }
  if (flags.holdUntil !== null && flags.holdUntil > now) {
    const seconds = secondsLeft(flags.holdUntil, now);
    return closedGate('dispatch_hold', `post-dispatch hold, ${seconds} s left`, { seconds });
  }
  if (state.status === 'unknown') return closedGate('status_unknown', 'status unknown');
  if (state.status !== 'idle' && state.status !== 'finished') {
    return closedGate('printer_busy', `printer is ${state.status}`, { status: state.status });
  }
  if (settings.requirePlateClear && flags.plateNeedsClearing) {
    return closedGate('plate_clear_wanted', 'waiting for the user to confirm the plate is clear');
  }
  if (flags.retryAfter && flags.retryAfter.at > now) {
    const seconds = secondsLeft(flags.retryAfter.at, now);
    return closedGate('start_retry_wait', `last start failed (${flags.retryAfter.message}), retry in ${seconds} s`, {
      detail: flags.retryAfter.message,
      seconds,
    });
  }
  const cooldownEnd = cooldownEndsAt(state, settings);
  if (cooldownEnd !== null && cooldownEnd > now) {
    const seconds = secondsLeft(cooldownEnd, now);
    return closedGate('cooling_down', `plate-swap cooldown, ${seconds} s left`, {
      seconds,
      until: new Date(cooldownEnd).toISOString(),
    });
  }
  return openGate;
}
