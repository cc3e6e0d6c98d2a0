import { useI18n } from 'vue-i18n';
import { finishClock, formatClock, formatDuration, toEpochMs } from './time.ts';
import type { TimeValue } from '../api/types.ts';

/** Locale-aware wrappers around the pure time helpers, for templates. */
export function useFormat() {
  const { t, locale } = useI18n();
  const duration = (seconds: number | null | undefined) =>
    formatDuration(seconds, { d: t('units.d'), h: t('units.h'), m: t('units.m'), sep: t('units.sep') });
  const finishText = (at: TimeValue, nowMs: number) => {
    const ms = toEpochMs(at);
    if (ms === null) return '';
    const c = finishClock(ms, nowMs);
    if (c.day === 'today') return t('queue.finishToday', { time: c.time });
    if (c.day === 'tomorrow') return t('queue.finishTomorrow', { time: c.time });
    return t('queue.finishDate', { time: c.time, month: c.month, date: c.date });
  };
  /** "14:05" or "11/24 14:05" when not today. */
  const clockTime = (at: TimeValue, nowMs: number) => {
    const ms = toEpochMs(at);
    if (ms === null) return '';
    const c = finishClock(ms, nowMs);
    if (c.day === 'today') return c.time;
    return locale.value === 'zh-CN' ? `${c.month}月${c.date}日 ${c.time}` : `${c.month}/${c.date} ${c.time}`;
  };
  const dateTime = (at: TimeValue) => {
    const ms = toEpochMs(at);
    return ms === null ? '' : new Date(ms).toLocaleString(locale.value);
  };
  return { t, duration, finishText, clockTime, dateTime, clock: formatClock };
}
