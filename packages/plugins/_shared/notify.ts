/**
 * What every built-in notifier shares: the alert as the `notify` entry receives it (the host's
 * notifier@1 shape), its text in one line, the categories users subscribe to, and the config
 * schema part for them. Imported relatively; bundled into each plugin.
 */
import { PluginError } from '@rwc/plugin-sdk';

export interface NotifyArgs {
  alert: { id: string; level: 'info' | 'warning' | 'error'; code: string; message: string; params: Record<string, unknown>; printerId: string | null };
  printerName: string | null;
  snapshotJpegBase64: string | null;
}

export const notifyInput = {
  type: 'object',
  required: ['alert'],
  properties: {
    alert: { type: 'object', required: ['code', 'message', 'level'] },
    printerName: { type: ['string', 'null'] },
    snapshotJpegBase64: { type: ['string', 'null'] },
  },
} as const;

const icons: Record<string, string> = { info: 'ℹ️', warning: '⚠️', error: '🛑' };

/** "A1-01: nozzle clog detected" style title. */
export function titleOf(a: NotifyArgs): string {
  const what = a.alert.code === 'queue_finished' ? 'Queue finished' : a.alert.level === 'error' ? 'Printer needs attention' : 'Print farm notice';
  return a.printerName ? `${a.printerName}: ${what}` : what;
}

/** One paragraph: printer, reason, code, time. */
export function textOf(a: NotifyArgs, at = new Date()): string {
  const lines = [`${icons[a.alert.level] ?? ''} ${a.alert.message}`.trim()];
  if (a.printerName) lines.push(`Printer: ${a.printerName}`);
  lines.push(`Code: ${a.alert.code} · ${at.toISOString()}`);
  return lines.join('\n');
}

export function snapshotOf(a: NotifyArgs): Buffer | null {
  return a.snapshotJpegBase64 ? Buffer.from(a.snapshotJpegBase64, 'base64') : null;
}

/** A test alert for the "send a test" entry every notifier has. */
export function testAlert(): NotifyArgs {
  return {
    alert: { id: `test-${Date.now()}`, level: 'info', code: 'notification_test', message: 'This is a test notification from RealWorldClaw', params: {}, printerId: null },
    printerName: null,
    snapshotJpegBase64: null,
  };
}

/** Throws when an HTTP answer is not 2xx, with the body's first words. */
export async function expectOk(res: Response, what: string): Promise<void> {
  if (res.ok) return;
  const body = (await res.text().catch(() => '')).slice(0, 200);
  throw new PluginError('delivery_failed', `${what} answered ${res.status}${body ? `: ${body}` : ''}`);
}
