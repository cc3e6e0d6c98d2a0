import type { FilamentUse } from './types.ts';

/**
 * Which filaments a plain G-code (or .bgcode) print uses, and how much of each. Pure.
 *
 * A slicer's configuration lists every filament of the profile (`filament_type = PLA;PLA;PETG;PLA`),
 * used or not; usage is what the slicer measured, one value per filament slot:
 *   PrusaSlicer / OrcaSlicer   `; filament used [g] = 9.46, 9.23` (also [mm], [cm3])
 *   Bambu Studio header        `; total filament weight [g] : 2.83,0.00` (also length [mm])
 *   Cura                       `;Filament used: 1.2m, 0m` (metres per extruder)
 * A slot is used when any of its measured values is above zero. Without any measurement, the tools
 * the G-code selects (`T<n>` lines, from a streaming scan) say it; a file with one filament uses it.
 */
export interface FilamentFacts {
  /** Setting values by key, first occurrence, as written after `=` or `:` in the comments. */
  settings: Map<string, string>;
  /** Cura: `EXTRUDER_TRAIN.<n>.MATERIAL.TYPE` by extruder. */
  curaTypes?: string[];
  /** Whole-print weight when the slicer gives only a total. */
  totalGrams: number | null;
  /** Tools selected by `T<n>` lines, when the whole file was scanned. */
  toolsUsed?: number[] | null;
}

/** `#RRGGBB` upper case; `#RRGGBBAA` loses its alpha; anything else is not a colour (null). */
export function normaliseColor(raw: string | null | undefined): string | null {
  const m = /^#?([0-9a-f]{6})(?:[0-9a-f]{2})?$/i.exec((raw ?? '').trim().replace(/^"|"$/g, ''));
  return m ? `#${m[1]!.toUpperCase()}` : null;
}

/** A slicer list value: `a;b;c` or `a,b,c`, quotes removed. */
export function splitList(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const t = raw.trim();
  if (!t || t === '""') return [];
  return t.split(/\s*[;,]\s*/).map((s) => s.trim().replace(/^"(.*)"$/, '$1'));
}

function numbers(raw: string | undefined): Array<number | null> | null {
  const items = splitList(raw);
  if (items.length === 0) return null;
  const out = items.map((s) => {
    const n = Number.parseFloat(s.replace(/m$/i, ''));
    return Number.isFinite(n) && n >= 0 ? n : null;
  });
  return out.some((n) => n !== null) ? out : null;
}

const first = (s: Map<string, string>, ...keys: string[]) => {
  for (const k of keys) if (s.has(k)) return s.get(k);
  return undefined;
};

const round = (n: number, places: number) => Math.round(n * 10 ** places) / 10 ** places;

/** The filaments the print uses, in slot order, each with its own grams (and metres when known). */
export function filamentsUsed(facts: FilamentFacts): FilamentUse[] {
  const s = facts.settings;
  const types = splitList(s.get('filament_type'));
  if (types.length === 0 && facts.curaTypes?.length) types.push(...facts.curaTypes);
  const colors = splitList(s.get('filament_colour'));
  const grams = numbers(first(s, 'filament used [g]', 'total filament weight [g]'));
  const mm = numbers(first(s, 'filament used [mm]', 'total filament length [mm]'));
  const cm3 = numbers(s.get('filament used [cm3]'));
  const curaMeters = numbers(s.get('Filament used'));
  const density = numbers(s.get('filament_density'));
  const diameter = numbers(s.get('filament_diameter'));
  const measured = [grams, mm, cm3, curaMeters].filter((l): l is Array<number | null> => l !== null);
  const n = Math.max(types.length, colors.length, ...measured.map((l) => l.length));
  if (n === 0) return [];

  const metersOf = (k: number): number | null => {
    const v = mm?.[k];
    if (v != null) return round(v / 1000, 3);
    const cura = curaMeters?.[k];
    return cura != null ? round(cura, 3) : null;
  };
  const gramsOf = (k: number): number | null => {
    if (grams?.[k] != null) return grams[k]!;
    const rho = density?.[k] ?? density?.[0] ?? null;
    if (rho === null) return null;
    if (cm3?.[k] != null) return round(cm3[k]! * rho, 2);
    const d = diameter?.[k] ?? diameter?.[0] ?? null;
    if (mm?.[k] != null && d !== null) return round((Math.PI * (d / 2) ** 2 * mm[k]!) / 1000 * rho, 2);
    return null;
  };
  const isUsed = (k: number): boolean => {
    if (measured.length > 0) return measured.some((l) => (l[k] ?? 0) > 0);
    if (facts.toolsUsed) return facts.toolsUsed.length === 0 ? k === 0 : facts.toolsUsed.includes(k);
    return n === 1;
  };

  const out: FilamentUse[] = [];
  for (let k = 0; k < n; k++) {
    if (!isUsed(k)) continue;
    out.push({
      id: k + 1,
      type: types[k] || 'unknown',
      color: normaliseColor(colors[k]),
      grams: gramsOf(k),
      meters: metersOf(k),
    });
  }
  // A single filament with only a whole-print weight: that weight is its weight.
  if (out.length === 1 && out[0]!.grams === null) out[0]!.grams = facts.totalGrams;
  return out;
}
