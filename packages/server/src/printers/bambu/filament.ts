/**
 * The filament a Bambu printer has loaded, from the report's `ams` and `vt_tray` blocks
 * (bambu-protocol.md §1.5 table; fixtures ha-bambulab.MOCK-X1CMULTIAMS / MOCK-P1PNOAMS):
 * `ams.ams[]` units {id, humidity_raw, temp, tray[]}, each tray {id, tray_type, tray_color
 * "RRGGBBAA", remain (percent, -1 unknown)}; an empty tray carries only its id. `tray_now` is the
 * global slot feeding the nozzle (254 external, 255 none). The external spool is `vt_tray` (older
 * firmware) or the first entry of `vir_slot` (H2 series).
 */
import type { FilamentTray, PrinterFilament } from '../model.ts';
import { type JsonObject, isObject, toNumber } from './report.ts';

/** Global slot number of the external spool. */
export const EXTERNAL_SLOT = 254;

const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v.trim() : null);

/** "FF0000FF" → "#FF0000"; fully transparent ("00000000", Bambu's "unset") → null. */
export function trayColor(v: unknown): string | null {
  const s = text(v);
  const m = s ? /^#?([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(s) : null;
  if (!m) return null;
  if (m[2] !== undefined && m[2] === '00' && m[1] === '000000') return null;
  return `#${m[1]!.toUpperCase()}`;
}

function readTray(t: JsonObject, slot: number): FilamentTray {
  const type = text(t.tray_type);
  const remain = toNumber(t.remain);
  return {
    id: toNumber(t.id) ?? 0,
    slot,
    type,
    color: type ? trayColor(t.tray_color) : null,
    remainingPercent: remain !== null && remain >= 0 && remain <= 100 ? remain : null,
    empty: !type,
  };
}

/** Global slot of a tray: `ams_id*4 + tray_id`; an AMS HT (id 128-135) has one tray at its own id. */
export function globalSlot(amsId: number, trayId: number): number {
  return amsId >= 128 ? amsId : amsId * 4 + trayId;
}

/** Reads the loaded filament from a merged `print` block; null when it says nothing about it. */
export function readFilament(print: JsonObject): PrinterFilament | null {
  const amsBlock = isObject(print.ams) ? print.ams : null;
  const vt = isObject(print.vt_tray)
    ? print.vt_tray
    : Array.isArray(print.vir_slot) && isObject(print.vir_slot[0])
      ? (print.vir_slot[0] as JsonObject)
      : null;
  if (!amsBlock && !vt) return null;
  const units = Array.isArray(amsBlock?.ams) ? (amsBlock.ams as unknown[]).filter(isObject) : [];
  const ams = units.map((u) => {
    const id = toNumber(u.id) ?? 0;
    const trays = (Array.isArray(u.tray) ? (u.tray as unknown[]).filter(isObject) : []).map((t) =>
      readTray(t, globalSlot(id, toNumber(t.id) ?? 0)),
    );
    return { id, humidity: toNumber(u.humidity_raw), temperature: toNumber(u.temp), trays };
  });
  const now = toNumber(amsBlock?.tray_now);
  const external = vt ? { ...readTray(vt, EXTERNAL_SLOT), id: EXTERNAL_SLOT } : null;
  return { ams, external, activeSlot: now === null || now === 255 ? null : now };
}

/**
 * A delta's `ams.ams[]` holds complete unit objects, possibly only the units that changed: merge
 * them into the previous list by unit id instead of replacing the list (a unit the delta does not
 * name stays as it was; a full report replaces everything anyway).
 */
export function mergeAmsUnits(previous: unknown[], delta: unknown[]): unknown[] {
  const out = [...previous];
  for (const unit of delta) {
    const id = isObject(unit) ? unit.id : undefined;
    const at = id === undefined ? -1 : out.findIndex((u) => isObject(u) && String(u.id) === String(id));
    if (at >= 0) out[at] = unit;
    else out.push(unit);
  }
  return out;
}
