import { describe, expect, it } from 'vitest';
import { durationParts, finishClock, formatClock, formatDuration, secondsUntil, toEpochMs } from '../../src/util/time.ts';

const EN = { d: 'd', h: 'h', m: 'm', sep: ' ' };
const ZH = { d: '天', h: '小时', m: '分', sep: '' };

describe('time helpers', () => {
  it('reads ISO strings and ms epochs, rejecting junk', () => {
    expect(toEpochMs('2026-11-22T04:20:00.000Z')).toBe(Date.UTC(2026, 10, 22, 4, 20));
    expect(toEpochMs(1_795_000_000_000)).toBe(1_795_000_000_000);
    expect(toEpochMs(null)).toBeNull();
    expect(toEpochMs('')).toBeNull();
    expect(toEpochMs('soon')).toBeNull();
  });

  it('formats countdowns as m:ss or h:mm:ss and never below zero', () => {
    expect(formatClock(42)).toBe('0:42');
    expect(formatClock(90)).toBe('1:30');
    expect(formatClock(3725)).toBe('1:02:05');
    expect(formatClock(-5)).toBe('0:00');
    expect(formatClock(41.2)).toBe('0:42');
    expect(secondsUntil(10_500, 10_000)).toBe(1);
    expect(secondsUntil(9_000, 10_000)).toBe(0);
  });

  it('formats durations per locale, rounding to minutes', () => {
    expect(formatDuration(2712, EN)).toBe('45m');
    expect(formatDuration(3 * 3600 + 5 * 60, EN)).toBe('3h 5m');
    expect(formatDuration(26 * 3600, EN)).toBe('1d 2h');
    expect(formatDuration(3 * 3600 + 5 * 60, ZH)).toBe('3小时5分');
    expect(formatDuration(20, EN)).toBe('1m');
    expect(formatDuration(0, EN)).toBe('0m');
    expect(formatDuration(null, EN)).toBe('—');
    expect(durationParts(90_061)).toEqual({ days: 1, hours: 1, minutes: 1 });
  });

  it('names the finish day relative to the viewer (today, tomorrow, a date) in local time', () => {
    const now = new Date(2026, 10, 22, 23, 0).getTime();
    expect(finishClock(new Date(2026, 10, 22, 23, 40).getTime(), now)).toMatchObject({ day: 'today', time: '23:40' });
    expect(finishClock(new Date(2026, 10, 23, 4, 20).getTime(), now)).toMatchObject({ day: 'tomorrow', time: '04:20' });
    expect(finishClock(new Date(2026, 10, 25, 9, 5).getTime(), now)).toEqual({ day: 'date', time: '09:05', month: 11, date: 25 });
    // Across a month end.
    const lastDay = new Date(2026, 11, 31, 22, 0).getTime();
    expect(finishClock(new Date(2027, 0, 1, 1, 0).getTime(), lastDay).day).toBe('tomorrow');
  });
});
