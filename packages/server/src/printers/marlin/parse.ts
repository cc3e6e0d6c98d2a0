/**
 * Pure parsers for what Marlin (and friends) print, following OctoPrint's serial connector
 * (docs/octoprint-moonraker-obico.md §1.2–1.5). Tested against OctoPrint's own vectors.
 */

export type TempReading = [actual: number, target: number | null];
export type TempReport = Record<string, TempReading>;

const FLOAT = '[-+]?[0-9]*\\.?[0-9]+';
const TEMP_RE = new RegExp(`(^|\\s)(B|C|T(\\d*)|(\\w+)):\\s*(${FLOAT})(\\s*\\/?\\s*(${FLOAT}))?`, 'g');

/** True when OctoPrint would look at this line for temperatures. */
export function hasTemperatures(line: string): boolean {
  return /(^|\s)T\d*:/.test(line) || (/(^|\s)B:/.test(line) && !line.includes('A:'));
}

/** Every `KEY:actual[ /target]`, first occurrence of a key wins; `@` power fields never match. */
export function parseTemperatureLine(line: string, currentTool: number): { temps: TempReport; maxTool: number } {
  const raw: TempReport = {};
  let maxTool = 0;
  for (const m of line.matchAll(TEMP_RE)) {
    const key = m[2];
    if (key in raw) continue;
    if (m[3] !== undefined && m[3] !== '') maxTool = Math.max(maxTool, Number(m[3]));
    raw[key] = [Number(m[5]), m[7] === undefined ? null : Number(m[7])];
  }
  return { temps: canonicalizeTemperatures(raw, currentTool), maxTool: Math.max(maxTool, 'T' in raw ? currentTool : 0) };
}

/** OctoPrint's canonicalisation of a bare `T` against numbered tools. */
export function canonicalizeTemperatures(raw: TempReport, currentTool: number): TempReport {
  if (!('T' in raw)) return raw;
  const out: TempReport = { ...raw };
  const t = out.T;
  delete out.T;
  const numbered = Object.keys(out).filter((k) => /^T\d+$/.test(k));
  if (numbered.length === 0) out[`T${currentTool}`] = t;
  else if (!('T0' in out)) out.T0 = t;
  else if (!(`T${currentTool}` in out)) out[`T${currentTool}`] = t;
  return out;
}

/** `Cap:NAME:0|1` (the `Cap:` prefix optional); null for anything else. */
export function parseCapabilityLine(line: string): [string, boolean] | null {
  const body = line.trim().replace(/^cap:/i, '');
  const parts = body.split(':');
  if (parts.length !== 2) return null;
  const [name, flag] = parts;
  if (!/^[A-Z0-9_]+$/.test(name) || (flag !== '0' && flag !== '1')) return null;
  return [name, flag === '1'];
}

/** `Resend: n`, `Resend: Nn`, `rs N:n`, Teacup's `rs Nn expected checksum x`. */
export function parseResendLine(line: string): number | null {
  const m = /^(?:resend|rs)(?::|\s)\s*(?:N:?)?(\d+)/i.exec(line.trim());
  return m ? Number(m[1]) : null;
}

/** The M115 `FIRMWARE_NAME:` line split into KEY:value pairs (Malyan's `NAME.` form included). */
export function parseFirmwareLine(line: string): Record<string, string> {
  const text = line.replace(/^NAME\.\s*/, 'NAME: ');
  const keys = [...text.matchAll(/(^|\s+)([A-Z][A-Z0-9_]*):/g)];
  const out: Record<string, string> = {};
  keys.forEach((m, i) => {
    const start = m.index! + m[0].length;
    const end = i + 1 < keys.length ? keys[i + 1].index! : text.length;
    out[m[2]] = text.slice(start, end).trim();
  });
  return out;
}

/** `X:.. Y:.. Z:.. E:..` (or `E0:..En:`) from M114; null without X, Y, Z and an E. */
export function parsePositionLine(line: string): Record<string, number> | null {
  const head = line.split('Count')[0];
  const out: Record<string, number> = {};
  for (const m of head.matchAll(new RegExp(`(?:^|\\s)([XYZ]|E\\d*):\\s*(${FLOAT})`, 'g'))) {
    const key = m[1].toLowerCase();
    if (!(key in out)) out[key] = Number(m[2]);
  }
  const hasE = 'e' in out || Object.keys(out).some((k) => /^e\d+$/.test(k));
  return 'x' in out && 'y' in out && 'z' in out && hasE ? out : null;
}

export type ErrorClass = 'resend' | 'simulate_ok' | 'sd' | 'unknown_command' | 'fatal';

/** OctoPrint's `_handle_errors` classification of an `Error:`/`!!` line. */
export function classifyError(line: string): ErrorClass {
  const text = line.toLowerCase();
  if (text.includes('kill() called') || text.includes('fatal:')) return 'fatal';
  if (text.includes('no line number with checksum') || text.includes('missing linenumber')) return 'simulate_ok';
  if (['line number', 'linenumber', 'checksum', 'format error', 'expected line'].some((s) => text.includes(s))) {
    return 'resend';
  }
  const sd = ['volume.init', 'openroot', 'workdir', 'error writing to file', 'cannot open', 'open failed', 'cannot enter'];
  if (sd.some((s) => text.includes(s))) return 'sd';
  if (text.includes('unknown command')) return 'unknown_command';
  return 'fatal';
}

/** Marlin ADVANCED_OK: `ok N<line> P<free planner blocks> B<free command slots>`. */
export type AdvancedOk = { lineNumber: number | null; plannerFree: number | null; bufferFree: number | null };

export function parseOkLine(line: string): AdvancedOk {
  const n = /(?:^|\s)N(\d+)(?=\s|$)/.exec(line);
  const p = /(?:^|\s)P(\d+)(?=\s|$)/.exec(line);
  const b = /(?:^|\s)B(\d+)(?=\s|$)/.exec(line);
  return {
    lineNumber: n ? Number(n[1]) : null,
    plannerFree: p ? Number(p[1]) : null,
    bufferFree: b ? Number(b[1]) : null,
  };
}

export type ParsedLine =
  | { kind: 'busy' }
  | { kind: 'action'; action: string; params: string }
  | { kind: 'error'; errorClass: ErrorClass; message: string }
  | { kind: 'ok'; advanced: AdvancedOk }
  | { kind: 'wait' }
  | { kind: 'resend'; lineNumber: number }
  | { kind: 'start' }
  | { kind: 'firmware'; fields: Record<string, string> }
  | { kind: 'capability'; name: string; enabled: boolean }
  | { kind: 'sd_progress'; current: number; total: number }
  | { kind: 'sd_not_printing' }
  | { kind: 'sd_done' }
  | { kind: 'sd_file_opened'; name: string; size: number }
  | { kind: 'echo'; text: string }
  | { kind: 'other'; text: string };

/** Classifies one received line in OctoPrint's `_monitor` order (temperatures are looked at separately). */
export function classifyLine(raw: string): ParsedLine {
  const line = raw.replace(/[^\x20-\x7e\t]/g, '').trim();
  const lower = line.toLowerCase();
  if (lower.startsWith('echo:busy') || lower.startsWith('busy:')) return { kind: 'busy' };
  // Host actions: Marlin writes `//action:cancel`, Prusa firmware, Klipper and Repetier `// action:cancel`.
  const action = /^\/\/\s*action:(.*)$/i.exec(line);
  if (action) {
    const rest = action[1].trim();
    const space = rest.indexOf(' ');
    return space < 0
      ? { kind: 'action', action: rest.toLowerCase(), params: '' }
      : { kind: 'action', action: rest.slice(0, space).toLowerCase(), params: rest.slice(space + 1) };
  }
  if (line.startsWith('Error:') || line.startsWith('!!') || lower.startsWith('fatal:')) {
    const message = line.replace(/^(Error:|!!)\s*/, '');
    return { kind: 'error', errorClass: classifyError(line), message };
  }
  if (lower === 'ok' || lower.startsWith('ok ')) return { kind: 'ok', advanced: parseOkLine(line.slice(2)) };
  if (lower === 'wait') return { kind: 'wait' };
  const resend = parseResendLine(line);
  if (resend !== null) return { kind: 'resend', lineNumber: resend };
  if (lower === 'start') return { kind: 'start' };
  if (line.includes('FIRMWARE_NAME:') || /^NAME[.:]/.test(line)) return { kind: 'firmware', fields: parseFirmwareLine(line) };
  if (lower.startsWith('cap:')) {
    const cap = parseCapabilityLine(line);
    if (cap) return { kind: 'capability', name: cap[0], enabled: cap[1] };
  }
  const sd = /SD printing byte (\d+)\/(\d+)/.exec(line);
  if (sd) return { kind: 'sd_progress', current: Number(sd[1]), total: Number(sd[2]) };
  if (line.includes('Not SD printing')) return { kind: 'sd_not_printing' };
  if (line.includes('Done printing file')) return { kind: 'sd_done' };
  const opened = /File opened:\s*(\S+)\s+Size:\s*(\d+)/.exec(line);
  if (opened) return { kind: 'sd_file_opened', name: opened[1], size: Number(opened[2]) };
  if (lower.startsWith('echo:')) return { kind: 'echo', text: line.slice(5) };
  return { kind: 'other', text: line };
}
