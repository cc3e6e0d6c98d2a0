/**
 * Per-printer AI settings (seed 002 §2.1: AI on/off, which detector — local or cloud —, the
 * confidence threshold, pause or warn only) plus what the rule and the camera need.
 */
import { ValidationError } from '../errors.ts';
import type { Region, RuleParams } from './rule.ts';

export interface VisionSettings {
  /** Watch this printer while it prints. */
  enabled: boolean;
  /** Name of the detector (a registered `detector` capability), or null for the server default. */
  detector: string | null;
  /** Boxes under this confidence do not count (0.05–0.99). */
  confidenceThreshold: number;
  /** What a failure does: pause the print, or only warn. */
  action: 'pause' | 'warn';
  /** 0.8 (low) – 1.2 (high), Obico's range. */
  sensitivity: number;
  /** Seconds between checks while printing (the rule is tuned for 10). */
  intervalSeconds: number;
  /** Parts of the frame that count (fractions 0–1); empty = the whole frame. */
  regions: Region[];
  /**
   * Where frames come from: 'auto' (the camera URL if set, else the printer's own camera), or
   * the name of a snapshot source (a plugin's, 'url', 'printer').
   */
  snapshotSource: string;
  /** An HTTP snapshot URL or MJPEG stream (IP camera, OctoPrint/mjpg-streamer, go2rtc for X1). */
  cameraUrl: string | null;
  /** Advanced: rule parameters for this printer (e.g. a shorter warm-up for fast demo printers). */
  rule: Partial<Pick<RuleParams, TunableRuleParam>>;
}

/** Rule parameters a printer may override. */
export const tunableRuleParams = [
  'warmupFrames',
  'low',
  'high',
  'shortMultiple',
  'pauseFactor',
  'pauseFrames',
  'rearmFrames',
] as const;
export type TunableRuleParam = (typeof tunableRuleParams)[number];

export const defaultVisionSettings: VisionSettings = {
  enabled: false,
  detector: null,
  confidenceThreshold: 0.2,
  action: 'pause',
  sensitivity: 1,
  intervalSeconds: 10,
  regions: [],
  snapshotSource: 'auto',
  cameraUrl: null,
  rule: {},
};

function num(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ValidationError(field, `must be a number from ${min} to ${max}`);
  }
  return v;
}

/** Merges a patch into settings and validates the result; throws a ValidationError naming the field. */
export function mergeVisionSettings(current: VisionSettings, patch: Record<string, unknown>): VisionSettings {
  const known = new Set(Object.keys(defaultVisionSettings));
  for (const k of Object.keys(patch)) if (!known.has(k)) throw new ValidationError(k, 'is not a known field');
  const s = { ...current, ...patch } as VisionSettings;
  if (typeof s.enabled !== 'boolean') throw new ValidationError('enabled', 'must be true or false');
  if (s.detector !== null && (typeof s.detector !== 'string' || !/^[\w.@:-]{1,100}$/.test(s.detector))) {
    throw new ValidationError('detector', 'must be a detector name or null');
  }
  num(s.confidenceThreshold, 'confidenceThreshold', 0.05, 0.99);
  if (s.action !== 'pause' && s.action !== 'warn') throw new ValidationError('action', 'must be "pause" or "warn"');
  num(s.sensitivity, 'sensitivity', 0.8, 1.2);
  num(s.intervalSeconds, 'intervalSeconds', 2, 3600);
  if (!Array.isArray(s.regions) || s.regions.length > 8)
    throw new ValidationError('regions', 'must be a list of at most 8 regions');
  s.regions = s.regions.map((r, i) => {
    if (!r || typeof r !== 'object') throw new ValidationError(`regions.${i}`, 'must be {x, y, w, h}');
    const out = {
      x: num(r.x, `regions.${i}.x`, 0, 1),
      y: num(r.y, `regions.${i}.y`, 0, 1),
      w: num(r.w, `regions.${i}.w`, 0.01, 1),
      h: num(r.h, `regions.${i}.h`, 0.01, 1),
    };
    if (out.x + out.w > 1.0001 || out.y + out.h > 1.0001)
      throw new ValidationError(`regions.${i}`, 'must lie inside the frame');
    return out;
  });
  if (typeof s.snapshotSource !== 'string' || !/^[\w.@:-]{1,100}$/.test(s.snapshotSource)) {
    throw new ValidationError('snapshotSource', 'must be "auto" or a snapshot source name');
  }
  if (s.cameraUrl !== null) {
    if (typeof s.cameraUrl !== 'string') throw new ValidationError('cameraUrl', 'must be an http(s) URL or null');
    let u: URL;
    try {
      u = new URL(s.cameraUrl);
    } catch {
      throw new ValidationError('cameraUrl', 'must be an http(s) URL or null');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ValidationError('cameraUrl', 'must be an http(s) URL or null');
    if (s.cameraUrl.length > 2000) throw new ValidationError('cameraUrl', 'is too long');
  }
  if (!s.rule || typeof s.rule !== 'object' || Array.isArray(s.rule))
    throw new ValidationError('rule', 'must be an object');
  const rule: VisionSettings['rule'] = {};
  for (const [k, v] of Object.entries(s.rule)) {
    if (!(tunableRuleParams as readonly string[]).includes(k))
      throw new ValidationError(`rule.${k}`, `is not a tunable parameter (${tunableRuleParams.join(', ')})`);
    const limits: Record<TunableRuleParam, [number, number]> = {
      warmupFrames: [0, 1000],
      low: [0.01, 10],
      high: [0.01, 10],
      shortMultiple: [0, 100],
      pauseFactor: [1, 10],
      pauseFrames: [1, 30],
      rearmFrames: [0, 1000],
    };
    const [min, max] = limits[k as TunableRuleParam];
    rule[k as TunableRuleParam] = num(v, `rule.${k}`, min, max);
  }
  s.rule = rule;
  return s;
}
