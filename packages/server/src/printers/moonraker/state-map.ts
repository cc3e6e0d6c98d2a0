import type { PrinterState } from '../model.ts';

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
 * Klipper's state in the printer model. klippy shutdown/error → error with Klipper's message;
 * print_stats printing/paused map across; complete/cancelled/standby are idle (the driver records lastJob).
 */
export function mapStatus(objects: MoonrakerObjects, klippyState: string): Partial<PrinterState> {
  const webhooks = objects.webhooks ?? {};
  const stats = objects.print_stats ?? {};
  const sd = objects.virtual_sdcard ?? {};
  const klippy = (webhooks.state as string | undefined) ?? klippyState;
  const patch: Partial<PrinterState> = { temperatures: temperatures(objects) };
  if (klippy === 'shutdown' || klippy === 'error') {
    return {
      ...patch,
      status: 'error',
      error: { code: `klippy_${klippy}`, message: String(webhooks.state_message ?? `Klipper ${klippy}`) },
    };
  }
  if (klippy !== 'ready') {
    const note = klippy === 'startup' ? 'Klipper is starting' : `Klipper is not ready (${klippy})`;
    return { ...patch, status: 'connecting', connectionNote: note };
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
  });
  if (state === 'error') {
    return { ...patch, status: 'error', error: { code: 'print_error', message: String(stats.message || 'print error') } };
  }
  return { ...patch, status: state === 'printing' ? 'printing' : state === 'paused' ? 'paused' : 'idle', error: null };
}

function temperatures(objects: MoonrakerObjects): PrinterState['temperatures'] {
  const out: PrinterState['temperatures'] = {};
  const e = objects.extruder;
  const b = objects.heater_bed;
  if (e && num(e.temperature) !== null) out.nozzle = { actual: num(e.temperature)!, target: num(e.target) ?? 0 };
  if (b && num(b.temperature) !== null) out.bed = { actual: num(b.temperature)!, target: num(b.target) ?? 0 };
  return out;
}
