import type { Overrides, Printer } from '../api/types.ts';

export const OVERRIDE_KEYS: (keyof Overrides)[] = ['bedLeveling', 'flowCalibration', 'timelapse'];

/** The overrides a printer honours: from the server when it says, else Bambu printers take all and others none. */
export function printerOverrides(p: Printer): (keyof Overrides)[] {
  if (Array.isArray(p.supportedOverrides)) return p.supportedOverrides;
  return /bambu/.test(p.driver) ? OVERRIDE_KEYS : [];
}

/** Overrides worth offering for an item: those at least one of its candidate printers honours. */
export function offeredOverrides(printers: Printer[], chosenIds: string[]): (keyof Overrides)[] {
  const candidates = chosenIds.length ? printers.filter((p) => chosenIds.includes(p.id)) : printers;
  const set = new Set(candidates.flatMap(printerOverrides));
  return OVERRIDE_KEYS.filter((k) => set.has(k));
}
