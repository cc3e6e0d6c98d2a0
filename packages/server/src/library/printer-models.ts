/**
 * Bambu `printer_model_id` codes (slice_info.config) and `printer_model` names
 * (project_settings.config / G-code CONFIG_BLOCK) mapped to the short names users know.
 * Codes: docs/bambu-protocol.md §2.2 (fixtures: BL-P001, C12, N1, N7, O1C2; ha-bambulab: C11, N2S).
 */
const byCode: Record<string, string> = {
  'BL-P001': 'X1C',
  'BL-P002': 'X1',
  C13: 'X1E',
  AP02: 'X1E',
  C11: 'P1P',
  C12: 'P1S',
  N1: 'A1 mini',
  N2S: 'A1',
  N7: 'P2S',
  O1D: 'H2D',
  O1C2: 'H2C',
  O1S: 'H2S',
};

const byName: Record<string, string> = {
  'bambu lab x1 carbon': 'X1C',
  'bambu lab x1': 'X1',
  'bambu lab x1e': 'X1E',
  'bambu lab p1p': 'P1P',
  'bambu lab p1s': 'P1S',
  'bambu lab a1 mini': 'A1 mini',
  'bambu lab a1': 'A1',
  'bambu lab p2s': 'P2S',
  'bambu lab h2d': 'H2D',
  'bambu lab h2c': 'H2C',
  'bambu lab h2s': 'H2S',
};

/** Short model name for a `printer_model_id`; an unknown code is returned as is (better than nothing). */
export function printerModelFromId(code: string | null | undefined): string | null {
  const c = code?.trim();
  if (!c) return null;
  return byCode[c] ?? c;
}

/** Short model name for a slicer `printer_model` value; other vendors' names are returned as is. */
export function printerModelFromName(name: string | null | undefined): string | null {
  const n = name?.trim();
  if (!n) return null;
  return byName[n.toLowerCase()] ?? n;
}
