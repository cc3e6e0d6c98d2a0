/**
 * `print_error` and HMS codes → PrinterError (bambu-protocol.md §1.7, pitfall 28).
 *
 * - `print_error` (uint32) renders as `MMMM_EEEE` (module = v >> 16, error = v & 0xFFFF).
 *   Low words < 0x4000 are status indicators, not faults; 0300_400C / 0500_400E are cancel echoes.
 *   0x4xxx fatal, 0x8xxx warning/pause, 0xCxxx prompt (a prompt only counts while a job is active,
 *   e.g. P1S 0500_C011 stays asserted at FINISH and must not latch the printer in `error`).
 * - HMS `{attr, code}` renders as `HMS_AAAA_AAAA_CCCC_CCCC`; severity = code >> 16
 *   (1 fatal, 2 serious, 3 common, 4 info).
 * - HMS 0500_0500_0001_0007 / ack reason "mqtt message verify failed" = Authorization Control is
 *   rejecting our commands: the user must enable LAN Only + Developer Mode (§1.10).
 */
import type { PrinterError } from '../model.ts';
import type { HmsEntry } from './report.ts';

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

export const VERIFY_FAILED_MESSAGE =
  'The printer rejected a control command (mqtt message verify failed): enable LAN Only mode and Developer Mode on the printer / 打印机拒绝了控制指令（MQTT 消息验证失败）：请在打印机上开启“仅局域网”模式和开发者模式';

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

/** Short texts for common HMS codes (AAAA_AAAA_CCCC_CCCC). */
const HMS_TEXT: Record<string, Text> = {
  [VERIFY_FAILED_HMS]: { en: 'MQTT command verification failed', zh: 'MQTT 指令验证失败' },
  '0300_0100_0001_0007': { en: 'The heatbed temperature is abnormal', zh: '热床温度异常' },
  '0700_2000_0002_0001': { en: 'AMS A slot 1 has run out of filament', zh: 'AMS A 槽位 1 耗材已用完' },
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
  return { code, message: bilingual(text), messages: { en: text.en, zh: text.zh }, url: `${WIKI}/${code}` };
}

export function describeHms(entry: HmsEntry): PrinterError {
  const full = formatHmsCode(entry);
  const text = HMS_TEXT[full] ??
    HMS_MODULE_TEXT[full.slice(0, 2)] ?? { en: `Printer alarm ${full}`, zh: `打印机告警 ${full}` };
  return { code: `HMS_${full}`, message: bilingual(text), messages: { en: text.en, zh: text.zh }, url: `${WIKI}/${full}` };
}

export function isVerifyFailedReason(reason: string | null | undefined): boolean {
  return !!reason && /verify\s*failed/i.test(reason);
}

export function hasVerifyFailedHms(hms: HmsEntry[]): boolean {
  return hms.some((e) => formatHmsCode(e) === VERIFY_FAILED_HMS);
}

export function verifyFailedError(): PrinterError {
  return { code: `HMS_${VERIFY_FAILED_HMS}`, message: VERIFY_FAILED_MESSAGE, url: `${WIKI}/${VERIFY_FAILED_HMS}` };
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

/** An HMS entry that is a real fault: fatal/serious always, "common" ones only while paused. */
export function isHmsFault(entry: HmsEntry, gcodeState: string | null): boolean {
  const severity = hmsSeverity(entry);
  if (severity === 1 || severity === 2) return true;
  return severity === 3 && gcodeState === 'PAUSE';
}

/**
 * The error to show for a report, or null. The verify-failed HMS wins (it blocks every command),
 * then `print_error`, then the first faulting HMS entry.
 */
export function faultFromReport(printError: number, hms: HmsEntry[], gcodeState: string | null): PrinterError | null {
  if (hasVerifyFailedHms(hms)) return verifyFailedError();
  if (isPrintErrorFault(printError, gcodeState)) return describePrintError(printError);
  const hmsFault = hms.find((e) => isHmsFault(e, gcodeState));
  return hmsFault ? describeHms(hmsFault) : null;
}
