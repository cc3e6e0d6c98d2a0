import type { PrinterState, Temperature } from '../model.ts';
import type { TempReport } from './parse.ts';

/** Firmware sensor keys → model keys: T<current> → nozzle, T<n> → tool<n>, B → bed, C → chamber. */
export function applyTemperatures(
  current: PrinterState['temperatures'],
  report: TempReport,
  currentTool: number,
): PrinterState['temperatures'] {
  const out = { ...current };
  const t = (r: [number, number | null]): Temperature => ({ actual: r[0], target: r[1] ?? 0 });
  const tools = Object.keys(report).filter((k) => /^T\d+$/.test(k));
  for (const k of tools) if (tools.length > 1) out[`tool${k.slice(1)}`] = t(report[k]);
  const nozzle = report[`T${currentTool}`] ?? report.T0;
  if (nozzle) out.nozzle = t(nozzle);
  if (report.B) out.bed = t(report.B);
  if (report.C) out.chamber = t(report.C);
  return out;
}
