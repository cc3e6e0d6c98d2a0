/**
 * Decoding and merging of Bambu `device/<serial>/report` messages (bambu-protocol.md §1.3).
 *
 * - `print.command == "push_status"` with `msg: 0` is a full report, `msg: 1` a delta.
 * - Deltas omit unchanged fields: absent means "unchanged", never "cleared" (pitfall 1).
 * - `hms` is always sent whole when present: it replaces the previous list.
 * - Nested objects (`ams`, `ipcam`, ...) are merged key by key; arrays are replaced whole, except
 *   the AMS unit list `ams.ams`, merged by unit id (filament.ts).
 * - Numbers often arrive as strings, `wifi_signal` as "-48dBm", and some firmware sends
 *   non-UTF-8 bytes or raw newlines inside strings (pitfalls 19, 30). Nothing here throws.
 */

import { findBambuModel } from '../../library/printer-models.ts';
import type { PrinterFilament } from '../model.ts';
import { mergeAmsUnits, readFilament } from './filament.ts';

export type JsonObject = Record<string, unknown>;

export interface HmsEntry {
  attr: number;
  code: number;
}

/** The fields the driver reads from a merged `print` block, with types normalised. */
export interface BambuReport {
  gcodeState: string | null;
  stgCur: number | null;
  percent: number | null;
  remainingMinutes: number | null;
  layerNum: number | null;
  totalLayerNum: number | null;
  nozzle: number | null;
  nozzleTarget: number | null;
  bed: number | null;
  bedTarget: number | null;
  chamber: number | null;
  chamberTarget: number | null;
  printError: number;
  hms: HmsEntry[];
  subtaskId: string | null;
  taskId: string | null;
  subtaskName: string | null;
  gcodeFile: string | null;
  wifiDbm: number | null;
  sdcard: boolean | null;
  /** `nozzle_diameter` of the full report, in mm ("0.4" on the wire). */
  nozzleDiameter: number | null;
  /** AMS trays and external spool (filament.ts); null when the report says nothing about them. */
  filament?: PrinterFilament | null;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** UTF-8 when valid, otherwise latin-1 (A1 mini 01.07.02.00 sends stray non-UTF-8 bytes). */
export function decodePayload(payload: Buffer | Uint8Array | string): string {
  if (typeof payload === 'string') return payload;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return Buffer.from(payload).toString('latin1');
  }
}

/** Parses a report payload; returns null (never throws) for anything that is not a JSON object. */
export function parsePayload(payload: Buffer | Uint8Array | string): JsonObject | null {
  const text = decodePayload(payload);
  for (const candidate of [text, text.replace(/[\u0000-\u001f]/g, ' ')]) {
    try {
      const value: unknown = JSON.parse(candidate);
      return isObject(value) ? value : null;
    } catch {
      // X1 payloads may hold raw control characters inside strings; the second candidate blanks them.
    }
  }
  return null;
}

/** Returns a new object: `delta` merged into `base` per field; `hms` and arrays replace whole. */
export function mergeReport(base: JsonObject, delta: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(delta)) {
    if (value === undefined) continue;
    const previous = out[key];
    if (key !== 'hms' && isObject(value) && isObject(previous)) out[key] = mergeReport(previous, value);
    // `ams.ams` (the AMS units) in a delta may name only the units that changed: merge by unit id.
    else if (key === 'ams' && Array.isArray(value) && Array.isArray(previous)) out[key] = mergeAmsUnits(previous, value);
    else out[key] = value;
  }
  return out;
}

export function toNumber(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const match = v.trim().match(/^[-+]?\d+(\.\d+)?/);
    if (!match) return null;
    const n = Number(match[0]);
    return Number.isFinite(n) ? n : null;
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

function toText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

function toBool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 1 || v === '1') return true;
  if (v === 'false' || v === 0 || v === '0') return false;
  return null;
}

function toHms(v: unknown): HmsEntry[] {
  if (!Array.isArray(v)) return [];
  const out: HmsEntry[] = [];
  for (const item of v) {
    if (!isObject(item)) continue;
    const attr = toNumber(item.attr);
    const code = toNumber(item.code);
    if (attr === null || code === null) continue;
    out.push({ attr: attr >>> 0, code: code >>> 0 });
  }
  return out;
}

const positive = (n: number | null) => (n !== null && n > 0 ? n : null);

/** Reads the normalised view of a merged `print` block. */
export function readReport(print: JsonObject): BambuReport {
  const stage = isObject(print.stage) ? toNumber(print.stage._id) : null;
  const state = toText(print.gcode_state);
  return {
    gcodeState: state ? state.toUpperCase() : null,
    stgCur: toNumber(print.stg_cur) ?? stage,
    percent: toNumber(print.mc_percent),
    remainingMinutes: toNumber(print.mc_remaining_time),
    layerNum: toNumber(print.layer_num),
    totalLayerNum: toNumber(print.total_layer_num),
    nozzle: toNumber(print.nozzle_temper),
    nozzleTarget: toNumber(print.nozzle_target_temper),
    bed: toNumber(print.bed_temper),
    bedTarget: toNumber(print.bed_target_temper),
    chamber: toNumber(print.chamber_temper),
    chamberTarget: toNumber(print.chamber_target_temper),
    printError: (toNumber(print.print_error) ?? 0) >>> 0,
    hms: toHms(print.hms),
    subtaskId: toText(print.subtask_id),
    taskId: toText(print.task_id),
    subtaskName: toText(print.subtask_name),
    gcodeFile: toText(print.gcode_file),
    wifiDbm: toNumber(print.wifi_signal),
    sdcard: toBool(print.sdcard),
    nozzleDiameter: positive(toNumber(print.nozzle_diameter)),
    filament: readFilament(print),
  };
}

/** What one incoming message is, after parsing. */
export type ReportMessage =
  | { kind: 'status'; full: boolean; print: JsonObject }
  | {
      kind: 'ack';
      command: string;
      sequenceId: string | null;
      result: string | null;
      reason: string | null;
      /** Numeric refusal code some firmware echoes instead of `result` (0 / absent = none). */
      errCode: number | null;
      print: JsonObject;
    }
  | { kind: 'info'; info: JsonObject }
  | { kind: 'other' };

/** Classifies a parsed message: a status push, a command ack on the `print` envelope, or `info`. */
export function classifyMessage(msg: JsonObject): ReportMessage {
  if (isObject(msg.print)) {
    const print = msg.print;
    const command = toText(print.command) ?? '';
    // A `print` block with `msg` but no `command` can only be a status push (acks echo their command).
    if (command === 'push_status' || (command === '' && print.msg !== undefined)) {
      // msg 0 = full, 1 = delta. A push without any `msg` (firmware or a bridge that never sets it;
      // X1 pushes used to carry the whole object) counts as full once it carries gcode_state, else
      // such a printer would stay `unknown` for ever. The driver merges those instead of replacing.
      const full = toNumber(print.msg) === 0 || (print.msg === undefined && print.gcode_state !== undefined);
      return { kind: 'status', full, print };
    }
    return {
      kind: 'ack',
      command,
      sequenceId: toText(print.sequence_id),
      // `result` is case-insensitive on the wire ("SUCCESS"); a missing result is inconclusive (pitfall 16).
      result: toText(print.result)?.toLowerCase() ?? null,
      reason: toText(print.reason),
      errCode: toNumber(print.err_code),
      print,
    };
  }
  if (isObject(msg.info)) return { kind: 'info', info: msg.info };
  // `system` commands (ledctrl) are acknowledged on their own envelope.
  if (isObject(msg.system) && typeof msg.system.command === 'string') {
    const sys = msg.system;
    return {
      kind: 'ack',
      command: toText(sys.command) ?? '',
      sequenceId: toText(sys.sequence_id),
      result: toText(sys.result)?.toLowerCase() ?? null,
      reason: toText(sys.reason),
      errCode: toNumber(sys.err_code),
      print: sys,
    };
  }
  return { kind: 'other' };
}

/** `product_name` from a `get_version` answer (e.g. "Bambu Lab A1"), if any module carries it. */
export function productNameFromVersion(info: JsonObject): string | null {
  if (!Array.isArray(info.module)) return null;
  for (const m of info.module) if (isObject(m) && typeof m.product_name === 'string' && m.product_name) return m.product_name;
  return null;
}

/**
 * What a get_version answer says the printer is: the canonical model from the `ota` module's
 * `product_name` ("Bambu Lab A1 mini", "Bambu Lab X1-Carbon"), else any module's product name or
 * `project_name` code (N2S, C12, …) that names a Bambu printer (AMS modules say "AMS (1)"), and the
 * firmware version (`ota` `sw_ver`). Unknown names stay null rather than guessed.
 */
export function identityFromVersion(info: JsonObject): { model: string | null; firmware: string | null } {
  const modules = Array.isArray(info.module) ? info.module.filter(isObject) : [];
  const ota = modules.find((m) => m.name === 'ota');
  const candidates: unknown[] = [
    ota?.product_name,
    ...modules.map((m) => m.product_name),
    ota?.project_name,
    ...modules.map((m) => m.project_name),
  ];
  let model: string | null = null;
  for (const c of candidates) {
    if (typeof c !== 'string' || !c.trim()) continue;
    const found = findBambuModel(c);
    if (found) {
      model = found.model;
      break;
    }
  }
  const firmware = typeof ota?.sw_ver === 'string' && ota.sw_ver ? ota.sw_ver : null;
  return { model, firmware };
}
