/**
 * What the simulated firmware does with a payload published on `device/<serial>/request`
 * (bambu-protocol.md §1.9). Pure: file access goes through `inspectFile`, output is a list of
 * messages to publish plus whether a full report is due.
 */
import type { ModelInfo } from './identity.ts';
import type { JobSpec, PrintLifecycle } from './lifecycle.ts';
import { ackReport, versionReport } from './report.ts';
import { ERR } from './status.ts';

export interface FileInspection {
  exists: boolean;
  /** Upper-case hex MD5 of the whole file. */
  md5: string;
  /** Slicer estimate of the requested plate, in seconds, when the file says. */
  predictionSeconds?: number;
  totalLayers?: number;
}

export interface CommandContext {
  readonly lifecycle: PrintLifecycle;
  readonly model: ModelInfo;
  readonly serial: string;
  /** 2025 firmware without Developer Mode: control commands fail verification (§1.10). */
  readonly verifyFailedMode: boolean;
  readonly defaultPrintSeconds: number;
  inspectFile(name: string, plate: number): FileInspection;
  /**
   * Scripted numeric refusal: the `err_code` to echo for this command (`print.project_file`,
   * `print.pause`, …), or null/0 to handle it normally. Current firmware with Developer Mode off
   * echoes a refused LAN command with `err_code` 84033543 and no `result` (case bambu-err-code-refusal).
   */
  refusal?(name: string): number | null;
  /** get_version: the product name to report; null = the printer does not say (no product/project name). */
  readonly productName?: string | null;
  /** false: get_version is never answered. */
  readonly answerGetVersion?: boolean;
}

export interface CommandOutcome {
  publish: Record<string, any>[];
  fullReport: boolean;
}

const QUERY_COMMANDS = new Set(['pushing.pushall', 'pushing.start', 'info.get_version']);
const VERIFY_FAILED = 'mqtt message verify failed';

/** `ftp:///a.3mf`, `ftp://a.3mf`, `file:///sdcard/a.3mf`, `file:///mnt/sdcard/a.3mf` → `a.3mf`. */
export function storagePathFromUrl(url: string | undefined, file: string | undefined): string {
  let p = (url ?? '').trim();
  p = p.replace(/^ftps?:\/\/\/?/i, '').replace(/^file:\/\/(\/mnt)?\/(sdcard|media\/usb0)\/?/i, '');
  if (!p || /^file:/i.test(p)) p = (file ?? '').trim();
  return p.replace(/^\/+/, '');
}

export function plateFromParam(param: unknown): number {
  const m = /plate_(\d+)\.gcode/.exec(String(param ?? ''));
  return m ? Math.max(1, Number(m[1])) : 1;
}

const flag = (v: unknown) => v === true || v === 1 || v === '1' || v === 'true';

export function handleCommand(ctx: CommandContext, payload: Record<string, any>): CommandOutcome {
  const out: CommandOutcome = { publish: [], fullReport: false };
  const [type] = Object.keys(payload);
  const req = payload[type];
  if (!type || !req || typeof req !== 'object') return out;
  const name = `${type}.${req.command}`;

  if (ctx.verifyFailedMode && !QUERY_COMMANDS.has(name)) {
    const hms = ctx.lifecycle.status.hms;
    const v = ERR.VERIFY_FAILED_HMS;
    if (!hms.some((h) => h.attr === v.attr && h.code === v.code)) ctx.lifecycle.status.hms = [...hms, { ...v }];
    out.publish.push(ackReport(type, req, 'failed', VERIFY_FAILED));
    return out;
  }

  const errCode = QUERY_COMMANDS.has(name) ? null : (ctx.refusal?.(name) ?? null);
  if (errCode) {
    out.publish.push(errCodeEcho(type, req, errCode));
    return out;
  }

  const lc = ctx.lifecycle;
  const ack = (r: { ok: boolean; reason?: string }, extra: Record<string, any> = {}) =>
    out.publish.push(ackReport(type, req, r.ok ? 'success' : 'failed', r.ok ? '' : (r.reason ?? ''), extra));

  switch (name) {
    case 'pushing.pushall':
    case 'pushing.start':
      out.fullReport = true;
      break;
    case 'info.get_version':
      if (ctx.answerGetVersion === false) break;
      out.publish.push(versionReport(ctx.model, ctx.serial, String(req.sequence_id ?? '0'), ctx.productName));
      break;
    case 'print.project_file':
      startJob(ctx, req, out);
      break;
    case 'print.pause':
      ack(lc.pause());
      break;
    case 'print.resume':
      ack(lc.resume());
      break;
    case 'print.stop':
      ack(lc.stop());
      break;
    case 'print.gcode_line':
      lc.applyGcode(String(req.param ?? ''));
      ack({ ok: true });
      break;
    case 'print.print_speed':
      lc.setSpeedLevel(Number(req.param));
      ack({ ok: true });
      break;
    case 'print.clean_print_error':
      lc.cleanPrintError();
      ack({ ok: true });
      break;
    case 'system.ledctrl': {
      const node = String(req.led_node ?? 'chamber_light');
      const mode = String(req.led_mode ?? 'off');
      lc.status.lights_report = lc.status.lights_report.map((l) => (l.node === node ? { node, mode } : l));
      ack({ ok: true });
      break;
    }
    default:
      // Unknown commands are silently ignored by the firmware; the request is still recorded.
      break;
  }
  return out;
}

/**
 * The refusal echo: our own fields back (`sequence_id`, `command`, `param`, `url`, `file`) plus a
 * numeric `err_code`, and no `result` — as in ../shared/cases/bambu-err-code-refusal/ack.json.
 */
export function errCodeEcho(type: string, req: Record<string, any>, errCode: number): Record<string, any> {
  const body: Record<string, any> = { sequence_id: String(req.sequence_id ?? '0'), command: req.command };
  for (const k of ['param', 'url', 'file']) if (req[k] !== undefined) body[k] = req[k];
  body.err_code = errCode;
  return { [type]: body };
}

function jobFrom(req: Record<string, any>, path: string, plate: number): Omit<JobSpec, 'printSeconds'> {
  return {
    file: path,
    plate,
    subtaskName: String(req.subtask_name ?? ''),
    subtaskId: String(req.subtask_id ?? '0'),
    taskId: String(req.task_id ?? '0'),
    projectId: String(req.project_id ?? '0'),
    profileId: String(req.profile_id ?? '0'),
    bedLeveling: flag(req.bed_leveling) || req.auto_bed_leveling === 1,
    flowCali: flag(req.flow_cali) || req.extrude_cali_flag === 1,
    vibrationCali: flag(req.vibration_cali),
    totalLayers: 0,
  };
}

function startJob(ctx: CommandContext, req: Record<string, any>, out: CommandOutcome): void {
  const lc = ctx.lifecycle;
  const plate = plateFromParam(req.param);
  const path = storagePathFromUrl(req.url, req.file);
  const fail = (reason: string, printError: number) =>
    out.publish.push(ackReport('print', req, 'failed', reason, { print_error: printError }));

  if (lc.isActive) {
    // Refused; the lifecycle decides whether the running job survives (A1 mini cancels it).
    const r = lc.startJob({ ...jobFrom(req, path, plate), printSeconds: ctx.defaultPrintSeconds });
    fail(r.ok ? '' : r.reason, r.ok ? 0 : (r.printError ?? ERR.BUSY));
    return;
  }
  const info: FileInspection = path ? ctx.inspectFile(path, plate) : { exists: false, md5: '' };
  const job: JobSpec = {
    ...jobFrom(req, path, plate),
    printSeconds: info.predictionSeconds ?? ctx.defaultPrintSeconds,
    totalLayers: info.totalLayers ?? 0,
  };
  if (!info.exists) {
    lc.rejectJob(job, ERR.FILE_MISSING);
    fail(`file not found on storage: ${path}`, ERR.FILE_MISSING);
    return;
  }
  const md5 = typeof req.md5 === 'string' ? req.md5.trim() : '';
  // An empty md5 skips validation (firmware historically accepts "", §1.9).
  if (md5 && md5.toUpperCase() !== info.md5.toUpperCase()) {
    lc.rejectJob(job, ERR.FILE_UNPARSABLE);
    fail('md5 mismatch', ERR.FILE_UNPARSABLE);
    return;
  }
  const r = lc.startJob(job);
  if (!r.ok) {
    fail(r.reason, r.printError ?? 0);
    return;
  }
  out.publish.push(ackReport('print', req, 'success', '', { subtask_name: job.subtaskName, gcode_state: 'PREPARE' }));
}
