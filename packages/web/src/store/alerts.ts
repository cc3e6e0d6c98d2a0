import { reactive } from 'vue';
import { api } from '../api/http.ts';

/** An alert: something a person must act on (GET /api/v1/alerts). */
export interface Alert {
  id: string | number;
  level: 'info' | 'warning' | 'error';
  code: string;
  message: string;
  params: Record<string, unknown>;
  printerId: string | null;
  at: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

/** The unread count for the menu badge, fetched once and then kept by the WebSocket `alert` events. */
export const alertsState = reactive({ unread: 0, available: true });
/** Set once the server sends `alerts.changed` (absolute counts): then `alert` events no longer count up. */
let serverCounts = false;

export function setUnread(n: number): void {
  serverCounts = true;
  alertsState.unread = n;
}

export async function loadUnread(): Promise<void> {
  try {
    const res = await api<{ unacknowledged: number }>('/alerts?acknowledged=false&limit=1');
    alertsState.unread = res.unacknowledged;
    alertsState.available = true;
  } catch {
    alertsState.available = false;
  }
}

export async function listAlerts(acknowledged: boolean | null, limit = 200): Promise<Alert[]> {
  const q = new URLSearchParams({ limit: String(limit) });
  if (acknowledged !== null) q.set('acknowledged', String(acknowledged));
  const res = await api<{ items: Alert[]; unacknowledged: number }>(`/alerts?${q}`);
  alertsState.unread = res.unacknowledged;
  return res.items;
}

export async function acknowledge(id: string | number): Promise<void> {
  await api(`/alerts/${id}/acknowledge`, { method: 'POST' });
  // Ask rather than count down: the WebSocket's `alerts.changed` may have counted this one already.
  await loadUnread();
}

/** A new alert arrived over the WebSocket (it carries its id when the server stores alerts). */
export function noteNewAlert(hasId: boolean): void {
  if (hasId && !serverCounts) alertsState.unread++;
}

/** Acknowledges every open alert (POST /alerts/acknowledge-all); returns how many. */
export async function acknowledgeAll(): Promise<number> {
  const res = await api<{ acknowledged: number }>('/alerts/acknowledge-all', { body: {} });
  await loadUnread();
  return res.acknowledged;
}
