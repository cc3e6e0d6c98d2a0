import { api } from './http.ts';
import type { FitAnswer, Overrides, QueueItem } from './types.ts';

/** Queue actions of the operator's day (docs/operator-api-queue.md). */
export interface NewItem {
  fileId: string;
  plate?: number;
  copies?: number;
  overrides?: Partial<Overrides>;
  printerIds?: string[];
  amsMapping?: number[] | null;
}

export const fitCheck = (body: { fileId: string; plate?: number; printerIds?: string[]; amsMapping?: number[] | null }) =>
  api<FitAnswer>('/queue/fit', { body });
export const addItem = (body: NewItem) => api<QueueItem>('/queue', { body });
export const addAllPlates = (body: Omit<NewItem, 'plate' | 'amsMapping'>) => api<{ items: QueueItem[] }>('/queue/all-plates', { body });
export const editItem = (id: string, body: Partial<Pick<NewItem, 'copies' | 'overrides' | 'printerIds' | 'amsMapping'>>) =>
  api<QueueItem>(`/queue/${id}`, { method: 'PATCH', body });
export const cancelItem = (id: string) => api<QueueItem>(`/queue/${id}/cancel`, { method: 'POST' });
export const retryItem = (id: string) => api<QueueItem>(`/queue/${id}/retry`, { method: 'POST' });
export const retryAll = () => api<{ items: QueueItem[] }>('/queue/retry', { body: {} });
export const cancelJob = (jobId: string, scope: 'copy' | 'item') => api(`/jobs/${jobId}/cancel`, { body: { scope } });
export const retryJob = (jobId: string) => api<QueueItem>(`/jobs/${jobId}/retry`, { method: 'POST' });

/** The global tray slot of an AMS tray: ams_id*4 + tray_id; 254 is the external spool. */
export const EXTERNAL_SLOT = 254;
export function slotLabel(slot: number, t: (k: string, p?: Record<string, unknown>) => string): string {
  if (slot === EXTERNAL_SLOT) return t('ops.ams.external');
  return t('ops.ams.slot', { ams: Math.floor(slot / 4) + 1, tray: (slot % 4) + 1 });
}
