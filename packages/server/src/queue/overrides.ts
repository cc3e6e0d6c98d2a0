/**
 * Print overrides per printer kind (issue 16): bed levelling, flow calibration and timelapse are
 * `project_file` options of a Bambu printer; Marlin and Klipper print the G-code as sliced and
 * ignore them, so they are not offered there (and a request that sets one only for such printers
 * is refused rather than silently dropped).
 */
import type { JobOverrides } from '../printers/driver.ts';
import type { PrinterSummary } from '../printers/model.ts';
import { defaultOverrides } from './types.ts';

export const OVERRIDE_KEYS: readonly (keyof JobOverrides)[] = ['bedLeveling', 'flowCalibration', 'timelapse'];

/**
 * The overrides a printer honours: none for a driver that prints only plain G-code (Marlin,
 * Klipper/Moonraker declare `fileKinds: ['gcode']`); all for a .3mf printer (Bambu).
 */
export function supportedOverrides(summary: Pick<PrinterSummary, 'driver' | 'fileKinds'>): (keyof JobOverrides)[] {
  const kinds = summary.fileKinds;
  return kinds && !kinds.includes('3mf') ? [] : [...OVERRIDE_KEYS];
}

/**
 * Overrides set to a non-default value that none of `printers` honours (empty = fine). Only
 * explicit printer choices are checked: a pooled item may go to a printer that honours them.
 */
export function unsupportedOverrides(
  requested: Partial<JobOverrides> | undefined,
  printers: ReadonlyArray<Pick<PrinterSummary, 'driver' | 'fileKinds'>>,
): (keyof JobOverrides)[] {
  if (!requested || printers.length === 0) return [];
  const honoured = new Set(printers.flatMap((p) => supportedOverrides(p)));
  return OVERRIDE_KEYS.filter(
    (k) => requested[k] !== undefined && requested[k] !== defaultOverrides[k] && !honoured.has(k),
  );
}
