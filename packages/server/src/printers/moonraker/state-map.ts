import type { PrinterNotice, PrinterState } from '../model.ts';
import { issue } from '../connection-issue.ts';

export type MoonrakerObjects = Record<string, Record<string, unknown>>;

/** The objects we subscribe to (null = every field). */
export const SUBSCRIBED_OBJECTS: Record<string, null> = {
  print_stats: null,
  display_status: null,
  virtual_sdcard: null,
  extruder: null,
  heater_bed: null,
  webhooks: null,
};

/** notify_status_update carries only changed fields: merge them one object deep. */
export function mergeStatus(into: MoonrakerObjects, delta: MoonrakerObjects): MoonrakerObjects {
  const out: MoonrakerObjects = { ...into };
  for (const [name, fields] of Object.entries(delta ?? {})) out[name] = { ...(out[name] ?? {}), ...fields };
  return out;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * print_stats.state values this driver knows (Moonraker docs: standby | printing | paused | complete |
 * error | cancelled), plus `completed`, which Anycubic's Klipper firmware reports for a finished print.
 */
export const IDLE_PRINT_STATES = new Set(['standby', 'complete', 'completed', 'cancelled']);
export const KNOWN_PRINT_STATES = new Set([...IDLE_PRINT_STATES, 'printing', 'paused', 'error']);

/** The notice for a print_stats.state the driver does not know (the printer is `unknown` then). */
export function unknownPrintStateNotice(state: string): PrinterNotice {
  return {
    level: 'warning',
    code: 'printer_state_unknown',
    message: `Klipper reports a print state this driver does not know: ${state}`,
    messages: {
      en: `Klipper reports a print state this driver does not know: ${state}`,
      zh: `Klipper 报告了驱动不认识的打印状态：${state}`,
    },
    params: { state, field: 'print_stats.state' },
  };
}

/**
 * Klipper's state in the printer model. klippy shutdown/error → error with Klipper's message;
 * print_stats printing/paused map across; standby/complete/completed/cancelled are idle (the driver
 * records lastJob); `error` is an error; any other value — or none at all — is `unknown`, never
 * idle, with a notice naming it.
 */
export function mapStatus(objects: MoonrakerObjects, klippyState: string): Partial<PrinterState> {
  const webhooks = objects.webhooks ?? {};
  const stats = objects.print_stats ?? {};
  const sd = objects.virtual_sdcard ?? {};
  const klippy = (webhooks.state as string | undefined) ?? klippyState;
  const patch: Partial<PrinterState> = { temperatures: temperatures(objects), notices: [] };
  if (klippy === 'shutdown' || klippy === 'error') {
    return {
      ...patch,
      status: 'error',
      error: { code: `klippy_${klippy}`, message: String(webhooks.state_message ?? `Klipper ${klippy}`) },
    };
  }
  if (klippy !== 'ready') {
    const note = klippy === 'startup' ? 'Klipper is starting' : `Klipper is not ready (${klippy})`;
    return { ...patch, status: 'connecting', connectionNote: note, connectionIssue: issue('firmware_not_ready', { state: klippy }) };
  }
  const state = stats.state as string | undefined;
  const active = state === 'printing' || state === 'paused';
  const progress = num(sd.progress) ?? num(objects.display_status?.progress);
  const duration = num(stats.print_duration);
  const info = (stats.info ?? {}) as Record<string, unknown>;
  const total = num(info.total_layer);
  const current = num(info.current_layer);
  Object.assign(patch, {
    // Moonraker gives a fraction; the printer model speaks percent (0–100).
    progress: active && progress !== null ? Math.round(progress * 1000) / 10 : null,
    remainingSeconds:
      active && progress && progress > 0 && duration !== null ? Math.max(0, Math.round(duration / progress - duration)) : null,
    layer: active && total !== null && current !== null ? { current, total } : null,
    connectionNote: null,
    connectionIssue: null,
  });
  if (state === 'error') {
    return { ...patch, status: 'error', error: { code: 'print_error', message: String(stats.message || 'print error') } };
  }
  if (state === 'printing' || state === 'paused') return { ...patch, status: state, error: null };
  if (state !== undefined && IDLE_PRINT_STATES.has(state)) return { ...patch, status: 'idle', error: null };
  // Not a value we know (or none at all): never read as idle and ready for a job.
  const shown = typeof state === 'string' ? state : '(none)';
  return { ...patch, status: 'unknown', error: null, notices: [unknownPrintStateNotice(shown)] };
}

function temperatures(objects: MoonrakerObjects): PrinterState['temperatures'] {
  const out: PrinterState['temperatures'] = {};
  const e = objects.extruder;
  const b = objects.heater_bed;
  if (e && num(e.temperature) !== null) out.nozzle = { actual: num(e.temperature)!, target: num(e.target) ?? 0 };
  if (b && num(b.temperature) !== null) out.bed = { actual: num(b.temperature)!, target: num(b.target) ?? 0 };
  return out;
}
