import crypto from 'node:crypto';
import type { EventBus } from '../events/bus.ts';

export type AlertLevel = 'info' | 'warning' | 'error';

/**
 * Something a person must act on (printer error, queue paused, start not confirmed, AI pause, …).
 * `code` is stable snake_case and, with `params`, lets the UI show the alert in the viewer's
 * language; `message` is the English text. `id` is unique and is what acknowledging refers to.
 */
export interface AlertEvent {
  id: string;
  level: AlertLevel;
  code: string;
  message: string;
  params: Record<string, unknown>;
  printerId: string | null;
}

export type AlertInput = Omit<AlertEvent, 'id' | 'params' | 'printerId'> & {
  params?: Record<string, unknown>;
  printerId?: string | null;
};

/** Emits an `alert` event with a fresh id. Every part raises alerts through this one call. */
export function raiseAlert(bus: EventBus, input: AlertInput): AlertEvent {
  const alert: AlertEvent = {
    id: crypto.randomUUID(),
    level: input.level,
    code: input.code,
    message: input.message,
    params: input.params ?? {},
    printerId: input.printerId ?? null,
  };
  bus.emit('alert', alert);
  return alert;
}
