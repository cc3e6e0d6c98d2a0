/**
 * Filament → tray mapping for a Bambu start (`use_ams` + `ams_mapping`, bambu-protocol.md §2.3):
 * pure. Each filament slot of the file gets a loaded tray of the same type and (near) the same
 * colour; the array is indexed by the file's filament slot (id - 1), the value is the global tray
 * `ams_id*4 + tray_id`, -1 for a slot the plate does not use. A single-filament print on a printer
 * without AMS (or whose match is the external spool) goes to the external spool: `use_ams: false`.
 */
import type { FilamentUse } from '../library/types.ts';
import type { FilamentTray, PrinterFilament } from '../printers/model.ts';
import type { FilamentMiss } from './wait-reasons.ts';

/** Global slot number of the external spool in explicit mappings (sent as -1 / use_ams false). */
export const EXTERNAL_SLOT = 254;

export type AmsPlan =
  | { ok: true; useAms: boolean /** the project_file `ams_mapping` (empty when use_ams is false) */; mapping: number[] }
  | { ok: false; missing: FilamentMiss };

/** Colours closer than this (RGB distance) count as the same: trays report preset colours, files may round. */
const SAME_COLOR = 40;

function rgb(hex: string): [number, number, number] | null {
  const m = /^#?([0-9a-f]{6})/i.exec(hex);
  if (!m) return null;
  const n = parseInt(m[1]!, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** RGB distance of two colours, or null when either is unknown. */
export function colorDistance(a: string | null, b: string | null): number | null {
  const x = a ? rgb(a) : null;
  const y = b ? rgb(b) : null;
  if (!x || !y) return null;
  return Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]);
}

const typeKey = (t: string | null | undefined) => (t ?? '').trim().toUpperCase();

/** The file's filament slots (1-based ids; position + 1 when the slicer wrote no id). */
export function filamentSlots(filaments: readonly FilamentUse[]): Array<FilamentUse & { slot: number }> {
  return filaments.map((f, i) => ({ ...f, slot: f.id != null && f.id > 0 ? f.id : i + 1 }));
}

/** A tray that can feed this filament: same type, colour within SAME_COLOR when both are known. */
function trayFits(f: FilamentUse, t: FilamentTray): boolean {
  if (t.empty || !t.type) return false;
  if (typeKey(t.type) !== typeKey(f.type)) return false;
  const d = colorDistance(f.color, t.color);
  return d === null || d <= SAME_COLOR;
}

function best(f: FilamentUse, trays: readonly FilamentTray[]): FilamentTray | null {
  let pick: FilamentTray | null = null;
  let pickD = Infinity;
  for (const t of trays) {
    if (!trayFits(f, t)) continue;
    const d = colorDistance(f.color, t.color) ?? SAME_COLOR;
    // Closest colour wins; on a tie the fuller spool.
    if (d < pickD || (d === pickD && (t.remainingPercent ?? 0) > (pick?.remainingPercent ?? 0))) {
      pick = t;
      pickD = d;
    }
  }
  return pick;
}

const toMapping = (slots: Map<number, number>): number[] => {
  const max = Math.max(0, ...slots.keys());
  return Array.from({ length: max }, (_, i) => slots.get(i + 1) ?? -1);
};

/**
 * Plans the filament for one printer. `filament` null = the printer does not report filament
 * (Marlin, Klipper): nothing to map. `explicit` (per item) wins as given, with 254 → external spool.
 */
export function planAms(
  filaments: readonly FilamentUse[],
  filament: PrinterFilament | null | undefined,
  explicit: readonly number[] | null,
): AmsPlan {
  if (!filament) return { ok: true, useAms: false, mapping: [] };
  if (explicit) {
    const mapping = explicit.map((v) => (v === EXTERNAL_SLOT ? -1 : v));
    const useAms = mapping.some((v) => v >= 0);
    return { ok: true, useAms, mapping: useAms ? mapping : [] };
  }
  const slots = filamentSlots(filaments);
  if (slots.length === 0) return { ok: true, useAms: false, mapping: [] };
  const trays = filament.ams.flatMap((u) => u.trays);
  const missing: FilamentMiss = [];
  const chosen = new Map<number, number>();
  for (const f of slots) {
    const t = best(f, trays);
    if (t) chosen.set(f.slot, t.slot);
    else missing.push({ slot: f.slot, type: f.type, color: f.color });
  }
  if (missing.length === 0) return { ok: true, useAms: true, mapping: toMapping(chosen) };
  // One filament and no tray holds it: the external spool, unless it reports another type.
  if (slots.length === 1) {
    const ext = filament.external;
    const extType = typeKey(ext?.type);
    if (!extType || extType === typeKey(slots[0]!.type)) return { ok: true, useAms: false, mapping: [] };
  }
  return { ok: false, missing };
}

/** A filament signature for grouping items with identical needs. */
export function filamentKey(filaments: readonly FilamentUse[], explicit: readonly number[] | null): string {
  if (explicit) return `x:${explicit.join(',')}`;
  return filamentSlots(filaments)
    .map((f) => `${f.slot}:${typeKey(f.type)}:${f.color ?? ''}`)
    .join('|');
}
