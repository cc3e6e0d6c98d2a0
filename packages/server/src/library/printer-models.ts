/**
 * One model, one name. A Bambu Lab printer goes by many names and codes: Bambu Studio writes the
 * model code in slice_info.config (`printer_model_id` BL-P001), the full name in
 * project_settings.config and the G-code CONFIG_BLOCK (`printer_model = Bambu Lab X1 Carbon`), the
 * printer itself answers get_version with `product_name` ("Bambu Lab X1-Carbon") and
 * `project_name` (N2S), and users type "X1 Carbon" or "X1C". All of them map to one canonical name
 * here, so the library, the queue and the drivers compare like with like.
 *
 * Sources: codes and display names from Bambu Studio's `resources/printers/<code>.json`
 * (`model_id`, `display_name`, `subseries` such as `O1D-V2`), docs/bambu-protocol.md §1.9 / §2.2
 * (fixtures: BL-P001, C12, N1, N7, O1C2; ha-bambulab get_printer_type: C11, N2S, AP02 for X1E),
 * real get_version answers in ../shared/fixtures/bambu (`Bambu Lab X1-Carbon`, `Bambu Lab P1P`).
 */

/** A Bambu Lab model: its canonical short name, the other names people and software use, its codes. */
export interface BambuModel {
  /** Canonical name (what `printerModel` and `state.reported.model` show). */
  model: string;
  /** Other names, compared without case, spaces, dashes and a leading "Bambu Lab". */
  names: readonly string[];
  /** `printer_model_id` / `model_id` / get_version `project_name` codes (revision suffix `-V2` ignored). */
  codes: readonly string[];
}

export const BAMBU_MODELS: readonly BambuModel[] = [
  { model: 'X1C', names: ['X1 Carbon', 'X1-Carbon', 'X1C', 'X1 Carbon Combo'], codes: ['BL-P001'] },
  { model: 'X1', names: ['X1'], codes: ['BL-P002'] },
  { model: 'X1E', names: ['X1E', 'X1 E'], codes: ['C13', 'AP02'] },
  { model: 'P1P', names: ['P1P'], codes: ['C11'] },
  { model: 'P1S', names: ['P1S', 'P1S Combo'], codes: ['C12'] },
  { model: 'A1 mini', names: ['A1 mini', 'A1mini', 'A1M', 'A1 mini Combo'], codes: ['N1'] },
  { model: 'A1', names: ['A1', 'A1 Combo'], codes: ['N2S'] },
  { model: 'A2L', names: ['A2L'], codes: ['N9'] },
  { model: 'P2S', names: ['P2S', 'P2S Combo'], codes: ['N7'] },
  { model: 'X2D', names: ['X2D'], codes: ['N6'] },
  { model: 'H2D', names: ['H2D'], codes: ['O1D'] },
  { model: 'H2D Pro', names: ['H2D Pro', 'H2DPro'], codes: ['O1E'] },
  { model: 'H2S', names: ['H2S'], codes: ['O1S'] },
  { model: 'H2C', names: ['H2C'], codes: ['O1C', 'O1C2'] },
];

/** "Bambu Lab X1-Carbon 0.4 nozzle" → "x1carbon": lower case, vendor and nozzle suffix dropped, only a-z0-9. */
function nameKey(name: string): string {
  return name
    .toLowerCase()
    .replace(/\b\d+(\.\d+)?\s*(mm\s*)?nozzle\b/g, '')
    .replace(/^\s*(bambu\s*lab|bambulab|bbl)\b/, '')
    .replace(/[^a-z0-9]/g, '');
}

const codeKey = (code: string) =>
  code
    .trim()
    .toUpperCase()
    .replace(/-V\d+$/, '');

const byName = new Map<string, BambuModel>();
const byCode = new Map<string, BambuModel>();
for (const m of BAMBU_MODELS) {
  for (const n of [m.model, ...m.names]) byName.set(nameKey(n), m);
  for (const c of m.codes) byCode.set(codeKey(c), m);
}

/** The Bambu model a name or a code stands for, or null when it is none of them. */
export function findBambuModel(nameOrCode: string | null | undefined): BambuModel | null {
  const s = nameOrCode?.trim();
  if (!s) return null;
  return byCode.get(codeKey(s)) ?? byName.get(nameKey(s)) ?? null;
}

/**
 * The canonical model name for anything a slicer, a printer or a user calls a printer: a Bambu name
 * or code becomes its canonical name ("X1 Carbon", "X1C", "BL-P001" → "X1C"); any other vendor's
 * name is returned trimmed as it is (better than nothing); empty → null.
 */
export function canonicalPrinterModel(nameOrCode: string | null | undefined): string | null {
  const s = nameOrCode?.trim();
  if (!s) return null;
  return findBambuModel(s)?.model ?? s;
}

/** Short model name for a `printer_model_id`; an unknown code is returned as is. */
export function printerModelFromId(code: string | null | undefined): string | null {
  return canonicalPrinterModel(code);
}

/** Short model name for a slicer `printer_model` value; other vendors' names are returned as is. */
export function printerModelFromName(name: string | null | undefined): string | null {
  return canonicalPrinterModel(name);
}

/** Comparison key of a model: the canonical Bambu name, else the name without case and punctuation. */
export function modelKey(nameOrCode: string | null | undefined): string | null {
  const canonical = canonicalPrinterModel(nameOrCode);
  if (!canonical) return null;
  const key = canonical.toLowerCase().replace(/[^a-z0-9]/g, '');
  return key === '' ? null : key;
}

/** True when both name the same model ("X1 Carbon" and "BL-P001"); false when either is unknown. */
export function sameModel(a: string | null | undefined, b: string | null | undefined): boolean {
  const ka = modelKey(a);
  return ka !== null && ka === modelKey(b);
}
