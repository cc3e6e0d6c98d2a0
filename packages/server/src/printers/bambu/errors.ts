/**
 * `print_error` and HMS codes → what the printer state shows (bambu-protocol.md §1.7, pitfall 28).
 *
 * What counts as a printer error (issue 10): the printer is in `error` only when it has STOPPED —
 * `gcode_state` PAUSE/FAILED with a cause (a faulting `print_error`, a listed fatal/serious HMS
 * entry, or a "paused: <reason>" stage), or a faulting `print_error` at any time. Every other HMS
 * entry is a notice: a `warning` when it is in Bambu's HMS list (the printer and Studio show it),
 * a note (`info`) when it is not (newer firmware keeps such entries in every report).
 *
 * - `print_error` (uint32) renders as `MMMM_EEEE` (module = v >> 16, error = v & 0xFFFF).
 *   Low words < 0x4000 are status indicators, not faults; 0300_400C / 0500_400E are cancel echoes.
 *   0x4xxx fatal, 0x8xxx warning/pause, 0xCxxx prompt (a prompt only counts while a job is active,
 *   e.g. P1S 0500_C011 stays asserted at FINISH: a warning notice then, never a latched error).
 * - HMS `{attr, code}` renders as `HMS_AAAA_AAAA_CCCC_CCCC`; severity = code >> 16
 *   (1 fatal, 2 serious, 3 common, 4 info).
 * - HMS 0500_0500_0001_0007 / ack reason "mqtt message verify failed" / ack `err_code` 84033543
 *   (0x05024007) = Authorization Control is rejecting our commands: the user must enable LAN Only +
 *   Developer Mode (§1.10). It closes the printer to new jobs (error while ready), but a print that
 *   is running goes on, so during a job it is a warning.
 */
import type { PrinterError, PrinterNotice } from '../model.ts';
import { hmsCatalogText } from './hms-catalog.ts';
import type { HmsEntry } from './report.ts';
import { stageText } from './stages.ts';

const WIKI = 'https://wiki.bambulab.com/en/x1/troubleshooting/hmscode';

const hex4 = (n: number) => (n & 0xffff).toString(16).toUpperCase().padStart(4, '0');

export function formatPrintError(value: number): string {
  return `${hex4(value >>> 16)}_${hex4(value)}`;
}

/** The 16-hex HMS code without prefix: `AAAA_AAAA_CCCC_CCCC`. */
export function formatHmsCode(entry: HmsEntry): string {
  return `${hex4(entry.attr >>> 16)}_${hex4(entry.attr)}_${hex4(entry.code >>> 16)}_${hex4(entry.code)}`;
}

export const hmsSeverity = (entry: HmsEntry) => entry.code >>> 16;

/** Cancel echoes: the user stopped the job, not a fault. */
export const CANCEL_ECHO_CODES = new Set(['0300_400C', '0500_400E']);
export const VERIFY_FAILED_HMS = '0500_0500_0001_0007';
export const BUSY_PRINT_ERROR = '0500_4004';

/** `err_code` of a command echo refused by Authorization Control: 84033543 = 0x05024007. */
export const VERIFY_FAILED_ERR_CODE = 0x0502_4007;

const VERIFY_FAILED_TEXT = {
  en: 'The printer rejected a control command (mqtt message verify failed): enable LAN Only mode and Developer Mode on the printer',
  zh: '打印机拒绝了控制指令（MQTT 消息验证失败）：请在打印机上开启“仅局域网”模式和开发者模式',
};

export const VERIFY_FAILED_MESSAGE = `${VERIFY_FAILED_TEXT.en} / ${VERIFY_FAILED_TEXT.zh}`;

type Text = { en: string; zh: string };

/** Short texts for the `print_error` codes users meet most often (MMMM_EEEE). */
const PRINT_ERROR_TEXT: Record<string, Text> = {
  '0300_400C': { en: 'The task was canceled', zh: '任务已取消' },
  '0500_400E': { en: 'The print was canceled', zh: '打印已取消' },
  '0300_8015': { en: 'Filament ran out; load new filament and resume', zh: '耗材已用完，请装入新耗材后继续' },
  '0500_4003': { en: 'The printer could not parse the print file', zh: '无法解析打印文件' },
  '0500_4004': { en: 'The device is busy and cannot start a new job', zh: '设备忙，无法开始新的任务' },
  '0500_C010': { en: 'MicroSD card read/write exception', zh: 'MicroSD 卡读写异常' },
  '0500_C011': { en: 'MicroSD card notice (check the card)', zh: 'MicroSD 卡提示（请检查存储卡）' },
  '0700_8006': { en: 'The AMS cannot feed filament to the extruder', zh: 'AMS 无法将耗材送入挤出机' },
  '07FF_8012': { en: 'Failed to get the AMS mapping table', zh: '获取 AMS 映射表失败' },
};

/** Fallback text by HMS module byte (attr >> 24, the first two hex digits). */
const HMS_MODULE_TEXT: Record<string, Text> = {
  '03': { en: 'Motion controller alarm', zh: '运动控制器告警' },
  '05': { en: 'Mainboard alarm', zh: '主板告警' },
  '07': { en: 'AMS alarm', zh: 'AMS 告警' },
  '08': { en: 'Toolhead alarm', zh: '工具头告警' },
  '0C': { en: 'Camera / AI monitoring alarm', zh: '摄像头 / AI 监测告警' },
  '12': { en: 'AMS Lite alarm', zh: 'AMS Lite 告警' },
};

const bilingual = (t: Text) => `${t.en} / ${t.zh}`;

export function describePrintError(value: number): PrinterError {
  const code = formatPrintError(value);
  const text = PRINT_ERROR_TEXT[code] ?? { en: `Printer error ${code}`, zh: `打印机错误 ${code}` };
  return {
    code,
    message: bilingual(text),
    messages: { en: text.en, zh: text.zh },
    params: { printError: code },
    url: `${WIKI}/${code}`,
  };
}

/** True when the code is in Bambu's HMS list (the printer's screen and Studio show a text for it). */
export function isListedHms(entry: HmsEntry): boolean {
  return hmsCatalogText(formatHmsCode(entry)) !== null;
}

const SEVERITY_NAMES: Record<number, string> = { 1: 'fatal', 2: 'serious', 3: 'common', 4: 'info' };

export function describeHms(entry: HmsEntry): PrinterError {
  const full = formatHmsCode(entry);
  const text = hmsCatalogText(full) ??
    HMS_MODULE_TEXT[full.slice(0, 2)] ?? { en: `Printer alarm ${full}`, zh: `打印机告警 ${full}` };
  return {
    code: `HMS_${full}`,
    message: bilingual(text),
    messages: { en: text.en, zh: text.zh },
    params: { hms: full, severity: SEVERITY_NAMES[hmsSeverity(entry)] ?? 'unknown' },
    url: `${WIKI}/${full}`,
  };
}

export function isVerifyFailedReason(reason: string | null | undefined): boolean {
  return !!reason && /verify\s*failed/i.test(reason);
}

export function hasVerifyFailedHms(hms: HmsEntry[]): boolean {
  return hms.some((e) => formatHmsCode(e) === VERIFY_FAILED_HMS);
}

export function verifyFailedError(): PrinterError {
  return {
    code: 'verify_failed',
    message: VERIFY_FAILED_MESSAGE,
    messages: { en: VERIFY_FAILED_TEXT.en, zh: VERIFY_FAILED_TEXT.zh },
    params: { hms: VERIFY_FAILED_HMS, errCode: VERIFY_FAILED_ERR_CODE },
    url: `${WIKI}/${VERIFY_FAILED_HMS}`,
  };
}


const ACTIVE_STATES = new Set(['PREPARE', 'SLICING', 'RUNNING', 'PAUSE']);

/** A `print_error` that is a real fault in this `gcode_state` (see the header comment). */
export function isPrintErrorFault(value: number, gcodeState: string | null): boolean {
  if (value === 0) return false;
  const low = value & 0xffff;
  if (low < 0x4000) return false;
  if (CANCEL_ECHO_CODES.has(formatPrintError(value))) return false;
  if (low >= 0xc000) return gcodeState !== null && ACTIVE_STATES.has(gcodeState);
  return true;
}

/**
 * `stg_cur` values that name why the printer paused itself (bambu-protocol.md §1.6): a PAUSE in one
 * of these is a stop with a cause. 5 (M400), 16 (by user) and 30 (by user G-code) are not faults.
 */
const PAUSE_CAUSE_STAGES: Record<number, string> = {
  6: '耗材用完而暂停',
  17: '工具头前盖脱落而暂停',
  20: '喷嘴温度异常而暂停',
  21: '热床温度异常而暂停',
  23: '电机丢步而暂停',
  26: 'AMS 断开而暂停',
  27: '热断散热风扇转速过低而暂停',
  28: '腔体温度控制错误而暂停',
  32: '检测到喷嘴被耗材包裹而暂停',
  33: '切刀错误而暂停',
  34: '首层缺陷而暂停',
  35: '喷嘴堵塞而暂停',
};

function stageCause(stgCur: number | null): PrinterError | null {
  if (stgCur === null || !(stgCur in PAUSE_CAUSE_STAGES)) return null;
  const en = stageText(stgCur, 'PAUSE') ?? `Paused (stage ${stgCur})`;
  const zh = `打印机${PAUSE_CAUSE_STAGES[stgCur]}`;
  return { code: 'printer_paused_fault', message: `${en} / ${zh}`, messages: { en, zh }, params: { stage: stgCur } };
}

/** A fatal/serious HMS entry from Bambu's list: the cause of a stop. Unlisted entries never are. */
function isStopCause(entry: HmsEntry): boolean {
  const severity = hmsSeverity(entry);
  return (severity === 1 || severity === 2) && isListedHms(entry);
}

/** An HMS entry shown as a notice: a warning when Bambu lists it, a note when it does not. */
export function hmsNotice(entry: HmsEntry): PrinterNotice {
  const full = formatHmsCode(entry);
  const listed = hmsCatalogText(full);
  const severity = SEVERITY_NAMES[hmsSeverity(entry)] ?? 'unknown';
  const text = listed ?? {
    en: `Printer code HMS_${full}, not in Bambu's HMS list (the printer's screen does not show it)`,
    zh: `打印机代码 HMS_${full}，不在拓竹 HMS 列表中（打印机屏幕不显示）`,
  };
  return {
    level: listed ? 'warning' : 'info',
    code: `HMS_${full}`,
    message: text.en,
    messages: { en: text.en, zh: text.zh },
    params: { hms: full, severity, listed: !!listed },
    url: `${WIKI}/${full}`,
  };
}

export interface ReportView {
  printError: number;
  hms: HmsEntry[];
  gcodeState: string | null;
  stgCur: number | null;
}

export interface Assessment {
  /** Set only when the printer has stopped (or may not take a job at all: verify failed). */
  error: PrinterError | null;
  notices: PrinterNotice[];
}

/**
 * Error and notices for a report (see the header comment). `verifyFailed`: an ack already showed
 * that Authorization Control refuses our commands.
 */
export function assessReport(r: ReportView, opts: { verifyFailed?: boolean } = {}): Assessment {
  const notices: PrinterNotice[] = [];
  const active = r.gcodeState !== null && ACTIVE_STATES.has(r.gcodeState);
  const stopped = r.gcodeState === 'PAUSE' || r.gcodeState === 'FAILED';
  let error: PrinterError | null = null;
  let causeHms: string | null = null;

  const verify = opts.verifyFailed || hasVerifyFailedHms(r.hms);
  if (verify) {
    const v = verifyFailedError();
    if (!active) error = v;
    else notices.push({ level: 'warning', code: v.code, message: VERIFY_FAILED_TEXT.en, messages: v.messages, params: v.params, url: v.url });
  }
  if (!error && isPrintErrorFault(r.printError, r.gcodeState)) error = describePrintError(r.printError);
  if (!error && stopped) {
    const cause = r.hms.find(isStopCause);
    if (cause) {
      error = describeHms(cause);
      causeHms = formatHmsCode(cause);
    } else if (r.gcodeState === 'PAUSE') error = stageCause(r.stgCur);
  }
  // A print_error that is not a fault but not a status indicator either (a prompt at FINISH).
  if (!error && r.printError !== 0 && (r.printError & 0xffff) >= 0x4000 && !CANCEL_ECHO_CODES.has(formatPrintError(r.printError))) {
    const e = describePrintError(r.printError);
    notices.push({ level: 'warning', code: e.code, message: e.messages!.en, messages: e.messages, params: e.params, url: e.url });
  }
  for (const entry of r.hms) {
    const full = formatHmsCode(entry);
    if (full === causeHms || full === VERIFY_FAILED_HMS) continue;
    notices.push(hmsNotice(entry));
  }
  return { error, notices };
}

/** The error to show for a report, or null (see assessReport). */
export function faultFromReport(
  printError: number,
  hms: HmsEntry[],
  gcodeState: string | null,
  stgCur: number | null = null,
): PrinterError | null {
  return assessReport({ printError, hms, gcodeState, stgCur }).error;
}
