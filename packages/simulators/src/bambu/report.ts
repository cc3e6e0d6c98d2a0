/**
 * Building what the printer publishes on `device/<serial>/report`: full reports (`msg: 0`, the
 * answer to `pushall`), deltas (`msg: 1`, only fields that changed since the last push — absent
 * means unchanged, bambu-protocol.md §1.3), command acks and the `get_version` answer.
 */
import type { ModelInfo } from './identity.ts';
import { a1PrintReportTemplate, a1VersionInfoTemplate } from './report-template.ts';
import type { PrintStatus } from './status.ts';

/** Keys that frame every push and are never part of the delta comparison. */
const FRAME_KEYS = new Set(['command', 'msg', 'sequence_id']);

/**
 * The complete `print` object (without the frame keys' values filled in): the real A1 capture with
 * the dynamic fields from `status` laid over it. Keeps the capture's key order and types.
 */
export function buildPrintSnapshot(status: PrintStatus): Record<string, any> {
  const snap = a1PrintReportTemplate();
  for (const [k, v] of Object.entries(status)) {
    if (k in snap) snap[k] = structuredClone(v);
  }
  return snap;
}

export function fullReport(snapshot: Record<string, any>, sequenceId: number): { print: Record<string, any> } {
  const print = structuredClone(snapshot);
  print.command = 'push_status';
  print.msg = 0;
  print.sequence_id = String(sequenceId);
  return { print };
}

/** The fields of `next` that differ from `prev` (deep compare); objects and lists are sent whole. */
export function computeDelta(prev: Record<string, any>, next: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(next)) {
    if (FRAME_KEYS.has(k)) continue;
    if (JSON.stringify(prev[k]) !== JSON.stringify(v)) out[k] = structuredClone(v);
  }
  return out;
}

export function deltaReport(delta: Record<string, any>, sequenceId: number): { print: Record<string, any> } {
  return { print: { ...delta, command: 'push_status', msg: 1, sequence_id: String(sequenceId) } };
}

/**
 * A command ack: `{"<type>": {command, sequence_id, result, reason, …echoed params}}`.
 * `result` is lower-case here; real firmware sometimes sends "SUCCESS" (compare case-insensitively).
 */
export function ackReport(
  type: string,
  request: Record<string, any>,
  result: 'success' | 'failed',
  reason = '',
  extra: Record<string, any> = {},
): Record<string, any> {
  const body: Record<string, any> = {
    command: request.command,
    sequence_id: request.sequence_id === undefined ? '0' : String(request.sequence_id),
  };
  if (request.param !== undefined) body.param = request.param;
  Object.assign(body, extra, { result, reason });
  return { [type]: body };
}

/**
 * The `info` answer to `get_version`, shaped like the real A1 one, with this printer's identity.
 * `productName` overrides the model's product name; null leaves out every product and project name
 * (a printer that does not say what it is).
 */
export function versionReport(
  model: ModelInfo,
  serial: string,
  sequenceId: string,
  productName?: string | null,
): { info: Record<string, any> } {
  const info = a1VersionInfoTemplate();
  info.sequence_id = sequenceId;
  for (const m of info.module as Record<string, any>[]) {
    if (m.project_name) m.project_name = model.projectName;
    if (productName === null) delete m.project_name;
    if (m.name === 'ota') {
      m.sn = serial;
      if (productName !== null) m.product_name = productName ?? model.productName;
    } else if (m.name === 'esp32') m.hw_ver = model.mainHwVer;
    else if (m.name.startsWith('ams')) m.sn = `${serial}-AMS0`;
  }
  return { info };
}
