import type { PrinterStatus, QueueStatus } from '../api/types.ts';

/** One colour per printer status, used for the card's stripe and tag. */
export const STATUS_COLORS: Record<PrinterStatus, string> = {
  printing: '#409eff',
  preparing: '#79bbff',
  paused: '#e6a23c',
  error: '#f56c6c',
  idle: '#67c23a',
  finished: '#2fb89a',
  offline: '#909399',
  connecting: '#b1b3b8',
  unknown: '#c0c4cc',
};

export function statusColor(status: string): string {
  return STATUS_COLORS[status as PrinterStatus] ?? '#c0c4cc';
}

export const QUEUE_TAG: Record<QueueStatus, 'primary' | 'success' | 'info' | 'warning' | 'danger'> = {
  waiting: 'info',
  printing: 'primary',
  done: 'success',
  failed: 'danger',
  cancelled: 'warning',
};

export function canPause(status: string): boolean {
  return status === 'printing' || status === 'preparing';
}
export function canResume(status: string): boolean {
  return status === 'paused';
}
export function canCancel(status: string): boolean {
  return status === 'printing' || status === 'paused' || status === 'preparing';
}
