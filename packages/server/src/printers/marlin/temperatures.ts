import type { PrinterState, Temperature } from '../model.ts';
import { splitNumberedLine, stripComment } from './line-format.ts';
import type { TempReport } from './parse.ts';

/**
 * Heater targets the host knows, by model key (`nozzle`, `tool<n>`, `bed`, `chamber`): the last
 * target the firmware reported, or the last one the host itself sent (M104/M109/M140/M190/M141/M191).
 * A report that omits a target (`T:210.3` without `/210`, Marlin during M109, some autoreports)
 * keeps this value; it never turns into 0.
 */
export type TargetMemory = Record<string, number>;

/** Firmware sensor keys → model keys: T<current> → nozzle, T<n> → tool<n>, B → bed, C → chamber. */
export function applyTemperatures(
  current: PrinterState['temperatures'],
  report: TempReport,
  currentTool: number,
  targets: TargetMemory = {},
): PrinterState['temperatures'] {
  const out = { ...current };
  const t = (key: string, r: [number, number | null]): Temperature => {
    if (r[1] !== null) targets[key] = r[1];
    return { actual: r[0], target: r[1] ?? targets[key] ?? current[key]?.target ?? 0 };
  };
  const tools = Object.keys(report).filter((k) => /^T\d+$/.test(k));
  for (const k of tools) if (tools.length > 1) out[`tool${k.slice(1)}`] = t(`tool${k.slice(1)}`, report[k]);
  const nozzle = report[`T${currentTool}`] ?? report.T0;
  if (nozzle) out.nozzle = t('nozzle', nozzle);
  if (report.B) out.bed = t('bed', report.B);
  if (report.C) out.chamber = t('chamber', report.C);
  return out;
}

/**
 * A target the host sends, as model keys and °C: `M104 S200` (current tool), `M109 T1 R190`,
 * `M140 S60`, `M190 R55`, `M141 S40`. Null for anything else (or a line without S/R).
 * `T<n>` tool changes are returned as `{tool: n}`.
 */
export function targetFromCommand(
  rawLine: string,
  currentTool: number,
): { keys: string[]; target: number } | { tool: number } | null {
  const numbered = splitNumberedLine(rawLine.trim());
  const line = stripComment(numbered ? numbered.command : rawLine).toUpperCase();
  const toolChange = /^T(\d+)\b/.exec(line);
  if (toolChange) return { tool: Number(toolChange[1]) };
  const m = /^(M104|M109|M140|M190|M141|M191)\b(.*)$/.exec(line);
  if (!m) return null;
  const value = /\b[SR](-?\d+(?:\.\d+)?)/.exec(m[2]);
  if (!value) return null;
  const target = Number(value[1]);
  if (m[1] === 'M140' || m[1] === 'M190') return { keys: ['bed'], target };
  if (m[1] === 'M141' || m[1] === 'M191') return { keys: ['chamber'], target };
  const t = /\bT(\d+)/.exec(m[2]);
  const tool = t ? Number(t[1]) : currentTool;
  return { keys: tool === currentTool ? ['nozzle', `tool${tool}`] : [`tool${tool}`], target };
}
