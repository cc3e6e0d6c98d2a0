/**
 * Pure time helpers for the dashboard. They take `now` and never read the clock themselves,
 * so they are unit-tested without fake timers. Local time = the viewer's browser time zone.
 */
import type { TimeValue } from '../api/types.ts';

/** ISO string or ms epoch → ms epoch (null when missing or unparsable). */
export function toEpochMs(value: TimeValue): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** A countdown clock: 42 → "0:42", 3725 → "1:02:05". Negative counts as 0. */
export function formatClock(totalSeconds: number): string {
  const s = Math.max(0, Math.ceil(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

/** Seconds left until `until` (ms epoch), never negative. */
export function secondsUntil(until: number, now: number): number {
  return Math.max(0, Math.ceil((until - now) / 1000));
}

export interface DurationParts {
  days: number;
  hours: number;
  minutes: number;
}

/** Rounds to whole minutes (at least 1 minute for any positive duration). */
export function durationParts(totalSeconds: number): DurationParts {
  let minutes = Math.round(Math.max(0, totalSeconds) / 60);
  if (totalSeconds > 0 && minutes === 0) minutes = 1;
  const days = Math.floor(minutes / 1440);
  minutes -= days * 1440;
  const hours = Math.floor(minutes / 60);
  return { days, hours, minutes: minutes - hours * 60 };
}

/** "2d 3h 5m" / "2天3小时5分" style text; `units` gives the locale's unit suffixes. */
export function formatDuration(totalSeconds: number | null | undefined, units: { d: string; h: string; m: string; sep: string }): string {
  if (totalSeconds === null || totalSeconds === undefined || !Number.isFinite(totalSeconds)) return '—';
  const { days, hours, minutes } = durationParts(totalSeconds);
  const parts: string[] = [];
  if (days) parts.push(`${days}${units.d}`);
  if (hours) parts.push(`${hours}${units.h}`);
  if (minutes || parts.length === 0) parts.push(`${minutes}${units.m}`);
  return parts.join(units.sep);
}

export type DayWord = 'today' | 'tomorrow' | 'date';

export interface FinishClock {
  /** Whether the finish falls on the viewer's today, tomorrow, or a later/earlier day. */
  day: DayWord;
  /** "04:20" in 24 h local time. */
  time: string;
  month: number;
  date: number;
}

/** Splits a finish moment into the pieces of "finishes tomorrow 04:20", in the viewer's local time. */
export function finishClock(finishMs: number, nowMs: number): FinishClock {
  const finish = new Date(finishMs);
  const now = new Date(nowMs);
  const startOfDay = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  // Calendar days apart, robust to DST (23/25 h days): round the difference.
  const daysApart = Math.round((startOfDay(finish) - startOfDay(now)) / 86_400_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return {
    day: daysApart === 0 ? 'today' : daysApart === 1 ? 'tomorrow' : 'date',
    time: `${pad(finish.getHours())}:${pad(finish.getMinutes())}`,
    month: finish.getMonth() + 1,
    date: finish.getDate(),
  };
}
