/**
 * Reads what slicers write into G-code comments. Pure: text in, facts out. Given the head and the
 * tail of a file (never the whole of it), since Bambu Studio/OrcaSlicer write a header block at the
 * top, PrusaSlicer/OrcaSlicer put estimates and the config at the end, and Cura writes at the top.
 *
 * Forms handled (docs/bambu-protocol.md §2.5 and slicer outputs):
 *   Bambu Studio / Orca: `; model printing time: 12m 4s; total estimated time: 20m 16s`,
 *                        `; total layer number: 128`, `; total filament weight [g] : 6.75,0.00`
 *   PrusaSlicer / Orca:  `; estimated printing time (normal mode) = 1h 2m 3s`,
 *                        `; total filament used [g] = 3.70`, `; printer_model = MK4`,
 *                        `; nozzle_diameter = 0.4`, `; filament_type = PLA;PETG`,
 *                        `; filament_colour = #FF8000;#000000`, `; total layers count = 240`
 *   Cura:                `;TIME:6666`, `;LAYER_COUNT:123`, `;Filament used: 1.2m`,
 *                        `;PRINT.TIME:1234`, `;TARGET_MACHINE.NAME:…`, `;EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:0.4`
 *   Klipper start G-code: `SET_PRINT_STATS_INFO TOTAL_LAYER=42`
 * Every `; key = value` / `; key: value` comment is also kept in `settings` (first occurrence), which
 * filaments.ts reads per filament slot.
 */
export interface GcodeCommentInfo {
  slicer: string | null;
  estimatedSeconds: number | null;
  layerCount: number | null;
  weightGrams: number | null;
  filamentMeters: number | null;
  printerModel: string | null;
  nozzleDiameter: number | null;
  filamentTypes: string[];
  filamentColors: string[];
  /** Cura: material type per extruder train. */
  curaTypes: string[];
  /** `; key = value` and `; key: value` comments, first occurrence of each key. */
  settings: Map<string, string>;
}

/** Most settings kept from one file (a config block has about 600). */
const MAX_SETTINGS = 5000;

/** `1d 2h 3m 4s`, `20m 16s`, `45s` → seconds; null when no unit is found. */
export function parseDuration(text: string): number | null {
  const re = /(\d+(?:\.\d+)?)\s*([dhms])/gi;
  const unit: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };
  let total = 0;
  let found = false;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * unit[m[2]!.toLowerCase()]!;
    found = true;
  }
  return found ? Math.round(total) : null;
}

function num(s: string | undefined): number | null {
  if (s === undefined) return null;
  const n = Number.parseFloat(s.trim());
  return Number.isFinite(n) ? n : null;
}

/** Sum of a comma separated number list (slicers write one value per filament slot). */
function sumList(s: string): number | null {
  const values = s
    .split(/[,;]/)
    .map((v) => num(v.replace(/m$/i, '')))
    .filter((v): v is number => v !== null);
  return values.length ? Math.round(values.reduce((a, b) => a + b, 0) * 1000) / 1000 : null;
}

type Rule = (line: string, info: GcodeCommentInfo) => void;

const firstSet = <K extends keyof GcodeCommentInfo>(info: GcodeCommentInfo, key: K, value: GcodeCommentInfo[K]) => {
  if (info[key] === null && value !== null) info[key] = value;
};

const rules: Rule[] = [
  (l, i) => {
    const m = /total estimated time\s*[:=]\s*([0-9dhms .]+)/i.exec(l);
    if (m) firstSet(i, 'estimatedSeconds', parseDuration(m[1]!));
  },
  (l, i) => {
    const m = /^;\s*estimated printing time(?: \(normal mode\))?\s*[=:]\s*(.+)$/i.exec(l);
    if (m) firstSet(i, 'estimatedSeconds', parseDuration(m[1]!));
  },
  (l, i) => {
    const m = /^;(?:PRINT\.)?TIME:\s*(\d+)\s*$/.exec(l);
    if (m) firstSet(i, 'estimatedSeconds', Number(m[1]));
  },
  (l, i) => {
    // Bambu/Orca "total layer number: N", Orca "total layers count = N", Cura ";LAYER_COUNT:N",
    // ideaMaker-style "Layer count: N".
    const m =
      /^;\s*total layers? (?:number|count)\s*[:=]\s*(\d+)/i.exec(l) ?? /^;\s*layer[ _]count\s*[:=]\s*(\d+)/i.exec(l);
    if (m && Number(m[1]) > 0) firstSet(i, 'layerCount', Number(m[1]));
  },
  (l, i) => {
    const m =
      /^;\s*total filament weight \[g\]\s*[:=]\s*([\d.,\s]+)$/i.exec(l) ??
      /^;\s*total filament used \[g\]\s*[:=]\s*([\d.]+)/i.exec(l);
    if (m) firstSet(i, 'weightGrams', sumList(m[1]!));
  },
  (l, i) => {
    const m = /^;\s*filament used \[g\]\s*=\s*(.+)$/i.exec(l);
    if (m) firstSet(i, 'weightGrams', sumList(m[1]!));
  },
  (l, i) => {
    const mm = /^;\s*filament used \[mm\]\s*=\s*(.+)$/i.exec(l);
    if (mm) {
      const v = sumList(mm[1]!);
      firstSet(i, 'filamentMeters', v === null ? null : v / 1000);
    }
    const cura = /^;Filament used:\s*(.+)$/.exec(l);
    if (cura) firstSet(i, 'filamentMeters', sumList(cura[1]!));
  },
  (l, i) => {
    const m = /^;\s*printer_model\s*=\s*(.+)$/.exec(l) ?? /^;TARGET_MACHINE\.NAME:\s*(.+)$/.exec(l);
    const model = m?.[1]?.trim();
    if (model) firstSet(i, 'printerModel', model);
  },
  (l, i) => {
    const m = /^;\s*nozzle_diameter\s*=\s*([\d.]+)/.exec(l) ?? /^;EXTRUDER_TRAIN\.0\.NOZZLE\.DIAMETER:\s*([\d.]+)/.exec(l);
    if (m) firstSet(i, 'nozzleDiameter', num(m[1]));
  },
  (l, i) => {
    const m = /^;\s*filament_type\s*=\s*(.+)$/.exec(l);
    if (m && i.filamentTypes.length === 0) i.filamentTypes = m[1]!.split(/[;,]/).map((s) => s.trim());
    const c = /^;\s*filament_colou?r\s*=\s*(.+)$/.exec(l);
    if (c && i.filamentColors.length === 0) i.filamentColors = c[1]!.split(/[;,]/).map((s) => s.trim());
    const cm = /^;EXTRUDER_TRAIN\.(\d+)\.MATERIAL\.TYPE:\s*(.+)$/.exec(l);
    if (cm && Number(cm[1]) < 64) {
      i.filamentTypes.push(cm[2]!.trim());
      i.curaTypes[Number(cm[1])] = cm[2]!.trim();
    }
  },
  (l, i) => {
    if (i.slicer !== null) return;
    const m =
      /^;\s*generated by (\S+(?: \S+)?)(?: on .*)?$/i.exec(l) ??
      /^;\s*(BambuStudio \S+|OrcaSlicer \S+)\s*$/.exec(l) ??
      /^;Generated with (Cura_SteamEngine \S+)/.exec(l);
    if (m) i.slicer = m[1]!.trim();
  },
  (l, i) => {
    if (i.settings.size >= MAX_SETTINGS) return;
    // `; key = value` (PrusaSlicer/Orca config), `; key: value` (Bambu/Orca header), `;KEY:value` (Cura).
    const m = /^;\s*([A-Za-z][\w .[\]^-]{0,60}?)\s*(?:=|:)\s?(.*)$/.exec(l);
    if (m && !i.settings.has(m[1]!)) i.settings.set(m[1]!, m[2]!.trim());
  },
];

export function emptyCommentInfo(): GcodeCommentInfo {
  return {
    slicer: null,
    estimatedSeconds: null,
    layerCount: null,
    weightGrams: null,
    filamentMeters: null,
    printerModel: null,
    nozzleDiameter: null,
    filamentTypes: [],
    filamentColors: [],
    curaTypes: [],
    settings: new Map(),
  };
}

export function parseGcodeComments(text: string): GcodeCommentInfo {
  const info = emptyCommentInfo();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trimEnd();
    if (!line.startsWith(';')) {
      // Klipper macros carry the total in the start G-code (OrcaSlicer's recommended setup).
      const k = /^SET_PRINT_STATS_INFO\b.*\bTOTAL_LAYER=(\d+)/i.exec(line);
      if (k && Number(k[1]) > 0) firstSet(info, 'layerCount', Number(k[1]));
      continue;
    }
    for (const rule of rules) rule(line, info);
  }
  return info;
}
