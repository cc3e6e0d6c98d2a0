/**
 * When is a failure real? The Obico-style temporal rule (octoprint-moonraker-obico.md §4.2), as
 * pure functions of (state, frame score, now): no timers, no I/O, time passed in by the caller.
 *
 * Per frame the detector's boxes become one score `p` (the sum of their confidences, Obico's
 * `prediction.py`). The state keeps an EWM of `p` (span 12), a per-print mean (310 frames, the
 * print's own baseline) and a lifetime mean (7200 frames, the camera/scene baseline, kept across
 * prints). A frame is failing when the EWM's excess over the lifetime baseline, times the
 * sensitivity, is above HIGH, or above LOW and also 3.8× the print's own excess; the pause test is
 * the same with thresholds ×1.75. The scene baseline learns only from frames that are not failing
 * and at most 1/100 per frame, so a failure never becomes "normal" and a new camera's first
 * frames do not set it. On top of Obico, what its users miss (§4.3):
 * - a resume resets the excess to the baseline and re-arms only after a few frames, so a resumed
 *   print is not paused again at once by the score that paused it;
 * - "not a failure" feedback raises this print's baseline to the level the user accepted;
 * - regions of interest: detections whose centre lies outside the printer's region do not count.
 */
import type { Detection } from '../registry/capabilities.ts';

/** Tuning of the rule. Defaults are Obico's FD_1ST_GEN_PARAMS, tuned for one frame every 10 s. */
export interface RuleParams {
  /** Frames at the start of a print that never fail (dense first layers look like failures). */
  warmupFrames: number;
  /** EWM span in frames; alpha = 2 / (span + 1). */
  ewmSpan: number;
  /** Window of the per-print mean, in frames. */
  shortWindow: number;
  /** Window of the lifetime (scene) mean, in frames. */
  longWindow: number;
  /**
   * Ours: the lifetime mean moves at most 1/this per frame, so a fresh printer's first frames do
   * not make its baseline (Obico's divides by count + 1: after 10 frames one spaghetti frame moves
   * the baseline 1/11 of the way and a new camera never sees a failure).
   */
  longMinWindow: number;
  /** Below this excess a frame is never failing. */
  low: number;
  /** Above this excess a frame is always failing. */
  high: number;
  /** Between LOW and HIGH: failing when the excess is above this multiple of the print's own excess. */
  shortMultiple: number;
  /** The pause test divides the excess by this (Obico 1.75; ours 1.5, see docs/decisions.md). */
  pauseFactor: number;
  /** Ours: consecutive frames the pause test must hold, so one extreme frame never pauses. */
  pauseFrames: number;
  /** No pause this long after the user acknowledged an alert or gave feedback (ms). */
  quietAfterAckMs: number;
  /** At most one warning this often (ms). */
  alertCooldownMs: number;
  /** After a resume, frames that may warn but never pause. */
  rearmFrames: number;
}

export const defaultRuleParams: RuleParams = {
  warmupFrames: 30,
  ewmSpan: 12,
  shortWindow: 310,
  longWindow: 7200,
  longMinWindow: 100,
  low: 0.38,
  high: 0.78,
  shortMultiple: 3.8,
  pauseFactor: 1.5,
  pauseFrames: 2,
  quietAfterAckMs: 90_000,
  alertCooldownMs: 90_000,
  rearmFrames: 3,
};

/** What the rule remembers about one printer. Plain JSON, so it can be stored between restarts. */
export interface RuleState {
  /** Identifies the print the per-print values belong to (job id or file + start time). */
  printKey: string | null;
  /** Frames scored in this print. */
  frameNum: number;
  /** Frames scored over the printer's life (drives the long window). */
  lifetimeFrameNum: number;
  ewm: number;
  shortMean: number;
  longMean: number;
  /** ms epoch of the AI pause in this print; at most one per print. */
  pausedAt: number | null;
  /** ms epoch of the last warning in this print. */
  lastAlertAt: number | null;
  /** True once the user has answered the last warning (ack, feedback, resume, cancel). */
  alertAcknowledged: boolean;
  /** ms epoch of the last acknowledgement or feedback. */
  acknowledgedAt: number | null;
  /** Frames scored since the last resume, null when the print was never resumed. */
  framesSinceResume: number | null;
  /** Raised by "not a failure": excess the user accepted for this print. */
  baselineBoost: number;
  /** Consecutive frames the pause test has held. */
  pauseStreak: number;
}

export function initialRuleState(): RuleState {
  return {
    printKey: null,
    frameNum: 0,
    lifetimeFrameNum: 0,
    ewm: 0,
    shortMean: 0,
    longMean: 0,
    pausedAt: null,
    lastAlertAt: null,
    alertAcknowledged: true,
    acknowledgedAt: null,
    framesSinceResume: null,
    baselineBoost: 0,
    pauseStreak: 0,
  };
}

/** Obico's `reset_for_new_print`: per-print values start over, the lifetime baseline stays. */
export function startPrint(state: RuleState, printKey: string | null): RuleState {
  return {
    ...initialRuleState(),
    printKey,
    lifetimeFrameNum: state.lifetimeFrameNum,
    longMean: state.longMean,
  };
}

/**
 * The print was resumed (by anyone): the EWM drops to the baseline so the score that led to the
 * pause does not pause again at once, the last warning counts as answered, and the next
 * `rearmFrames` frames may warn but not pause.
 */
export function resumePrint(state: RuleState, now: number): RuleState {
  return {
    ...state,
    ewm: Math.min(state.ewm, state.longMean + state.baselineBoost),
    framesSinceResume: 0,
    alertAcknowledged: true,
    acknowledgedAt: now,
  };
}

/** The user saw the warning (acknowledged the alert): no pause for the quiet period. */
export function acknowledge(state: RuleState, now: number): RuleState {
  return { ...state, alertAcknowledged: true, acknowledgedAt: now };
}

/**
 * "Not a failure": what the camera shows now is normal for this print. The print's baseline is
 * raised to the current excess, so only a clear further rise counts; it also acknowledges.
 */
export function notAFailure(state: RuleState, now: number): RuleState {
  const excess = Math.max(0, state.ewm - state.longMean);
  return { ...acknowledge(state, now), baselineBoost: Math.max(state.baselineBoost, excess) };
}

export type Verdict = 'ok' | 'warn' | 'pause';

/** Why the verdict is what it is (a stable code for the UI and history). */
export type VerdictReason =
  | 'warming_up'
  | 'below_threshold'
  | 'failing'
  | 'failing_pause'
  | 'already_paused'
  | 'quiet_after_ack'
  | 'rearming_after_resume'
  | 'alert_cooldown'
  | 'alert_unanswered'
  | 'warn_only'
  | 'confirming';

export interface StepResult {
  state: RuleState;
  verdict: Verdict;
  reason: VerdictReason;
  /** The EWM excess over the baseline times the sensitivity: the value the thresholds apply to. */
  adjusted: number;
  /** True when the warn-level test fails the frame. */
  failing: boolean;
  /** True when the pause-level (×pauseFactor) test fails the frame. */
  failingPause: boolean;
  /** 0–1 for a gauge: thirds for ok / warning / failure (Obico `calc_normalized_p`). */
  normalized: number;
}

export interface StepOptions {
  /** ms epoch of this frame (from the caller's clock). */
  now: number;
  /** 0.8 (low) – 1.2 (high); multiplies the excess. */
  sensitivity: number;
  /** What the printer's settings allow: pause, or warn only. */
  action: 'pause' | 'warn';
  params?: RuleParams;
}

/** Obico `is_failing`: the warn test with factor 1, the pause test with the escalating factor. */
export function isFailing(state: RuleState, sensitivity: number, factor: number, params: RuleParams): boolean {
  if (state.frameNum < params.warmupFrames) return false;
  const base = state.longMean + state.baselineBoost;
  const adj = ((state.ewm - base) * sensitivity) / factor;
  if (adj < params.low) return false;
  if (adj > params.high) return true;
  return adj > (state.shortMean - base) * params.shortMultiple;
}

function normalize(adjusted: number, params: RuleParams): number {
  const { low, high } = params;
  if (adjusted <= 0) return 0;
  if (adjusted < low) return adjusted / low / 3;
  if (adjusted < high) return 1 / 3 + (adjusted - low) / (high - low) / 3;
  return Math.min(1, 2 / 3 + (adjusted - high) / high / 3);
}

/** Folds one frame score `p` (≥ 0) into the state and decides what to do. */
export function stepRule(state: RuleState, p: number, opts: StepOptions): StepResult {
  const params = opts.params ?? defaultRuleParams;
  const score = Number.isFinite(p) && p > 0 ? p : 0;
  const alpha = 2 / (params.ewmSpan + 1);
  // Streaming means as in Obico: m ← m + (p − m) / min(window, count + 1).
  const next: RuleState = {
    ...state,
    frameNum: state.frameNum + 1,
    lifetimeFrameNum: state.lifetimeFrameNum + 1,
    ewm: alpha * score + (1 - alpha) * state.ewm,
    shortMean: state.shortMean + (score - state.shortMean) / Math.min(params.shortWindow, state.frameNum + 1),
    framesSinceResume: state.framesSinceResume === null ? null : state.framesSinceResume + 1,
  };
  // The scene baseline learns from this frame only when it does not look like a failure.
  if (!isFailing(next, opts.sensitivity, 1, params)) {
    const win = Math.min(params.longWindow, Math.max(params.longMinWindow, state.lifetimeFrameNum + 1));
    next.longMean = state.longMean + (score - state.longMean) / win;
  }
  const adjusted = (next.ewm - next.longMean - next.baselineBoost) * opts.sensitivity;
  const failing = isFailing(next, opts.sensitivity, 1, params);
  const failingPause = isFailing(next, opts.sensitivity, params.pauseFactor, params);
  next.pauseStreak = failingPause ? (state.pauseStreak ?? 0) + 1 : 0;
  const result = (verdict: Verdict, reason: VerdictReason, s = next): StepResult => ({
    state: s,
    verdict,
    reason,
    adjusted,
    failing,
    failingPause,
    normalized: normalize(adjusted, params),
  });

  if (next.frameNum < params.warmupFrames) return result('ok', 'warming_up');
  if (!failing) return result('ok', 'below_threshold');

  if (failingPause && opts.action === 'pause') {
    const blocked: VerdictReason | null =
      next.pauseStreak < params.pauseFrames
        ? 'confirming'
        : next.pausedAt !== null
          ? 'already_paused'
          : next.acknowledgedAt !== null && opts.now - next.acknowledgedAt < params.quietAfterAckMs
            ? 'quiet_after_ack'
            : next.framesSinceResume !== null && next.framesSinceResume <= params.rearmFrames
              ? 'rearming_after_resume'
              : null;
    if (!blocked) {
      return result('pause', 'failing_pause', {
        ...next,
        pausedAt: opts.now,
        lastAlertAt: opts.now,
        alertAcknowledged: false,
      });
    }
    // A pause that may not happen still deserves a warning when one is allowed.
    const warned = warnIfAllowed(next, opts.now, params);
    return warned ? result('warn', blocked, warned) : result('ok', blocked);
  }
  const warned = warnIfAllowed(next, opts.now, params);
  if (warned) return result('warn', opts.action === 'warn' && failingPause ? 'warn_only' : 'failing', warned);
  const why: VerdictReason = !next.alertAcknowledged ? 'alert_unanswered' : 'alert_cooldown';
  return result('ok', why);
}

/** Obico's alert suppression: one warning per 90 s, and none while the last one is unanswered. */
function warnIfAllowed(s: RuleState, now: number, params: RuleParams): RuleState | null {
  if (!s.alertAcknowledged) return null;
  if (s.lastAlertAt !== null && now - s.lastAlertAt < params.alertCooldownMs) return null;
  return { ...s, lastAlertAt: now, alertAcknowledged: false };
}

/** A region of interest as fractions (0–1) of the frame: only detections centred inside count. */
export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ScoreOptions {
  /** Boxes below this confidence are ignored (seed 002 §2.1 "confidence threshold"). */
  confidenceThreshold: number;
  /** Frame size in pixels, needed to place boxes in the region. */
  width: number;
  height: number;
  /** Regions that count; empty or absent = the whole frame. */
  regions?: Region[] | null;
  /** Keep only the strongest N boxes (Obico MAX_DET_NUM); default all. */
  maxDetections?: number;
}

/** The detections that count for the score: over the threshold and centred in a region. */
export function countedDetections(detections: Detection[], opts: ScoreOptions): Detection[] {
  const regions = opts.regions?.length ? opts.regions : null;
  const inRegion = (d: Detection) => {
    if (!regions || opts.width <= 0 || opts.height <= 0) return true;
    const cx = (d.box[0] + d.box[2] / 2) / opts.width;
    const cy = (d.box[1] + d.box[3] / 2) / opts.height;
    return regions.some((r) => cx >= r.x && cx <= r.x + r.w && cy >= r.y && cy <= r.y + r.h);
  };
  const kept = detections
    .filter((d) => Number.isFinite(d.confidence) && d.confidence >= opts.confidenceThreshold && inRegion(d))
    .sort((a, b) => b.confidence - a.confidence);
  return opts.maxDetections ? kept.slice(0, opts.maxDetections) : kept;
}

/** Obico's per-frame `p`: the sum of the counted confidences (it can exceed 1). */
export function frameScore(detections: Detection[], opts: ScoreOptions): number {
  return countedDetections(detections, opts).reduce((sum, d) => sum + Math.min(1, Math.max(0, d.confidence)), 0);
}
