/** Filament → tray planning (pure): type and colour, external spool, explicit mappings. */
import { describe, expect, it } from 'vitest';
import { planAms } from '../../src/queue/ams-match.ts';
import type { FilamentTray, PrinterFilament } from '../../src/printers/model.ts';

const tray = (
  slot: number,
  type: string | null,
  color: string | null,
  remainingPercent: number | null = null,
): FilamentTray => ({
  id: slot % 4,
  slot,
  type,
  color,
  remainingPercent,
  empty: !type,
});
const printer = (trays: FilamentTray[], external: FilamentTray | null = null): PrinterFilament => ({
  ams: trays.length ? [{ id: 0, humidity: null, temperature: null, trays }] : [],
  external,
  activeSlot: null,
});
const green = { id: 1, type: 'PLA', color: '#00AE42', grams: 3 };
const red = { id: 2, type: 'PLA', color: '#FF0000', grams: 2 };

describe('planAms', () => {
  it('maps each filament slot to a tray of the same type and colour', () => {
    const p = printer([
      tray(0, 'PLA', '#FF0000'),
      tray(1, 'PETG', '#00AE42'),
      tray(2, 'PLA', '#00AE42'),
      tray(3, null, null),
    ]);
    expect(planAms([green, red], p, null)).toEqual({ ok: true, useAms: true, mapping: [2, 0] });
  });

  it('sparse filament ids leave -1 in the unused slots; near colours match, far ones do not', () => {
    const p = printer([tray(0, 'PLA', '#02AC40'), tray(1, 'PLA', '#0000FF')]);
    expect(planAms([{ ...green, id: 3 }], p, null)).toEqual({ ok: true, useAms: true, mapping: [-1, -1, 0] });
    const miss = planAms([green, red], p, null);
    expect(miss).toEqual({ ok: false, missing: [{ slot: 2, type: 'PLA', color: '#FF0000' }] });
  });

  it('prefers the closest colour, then the fuller spool', () => {
    const p = printer([tray(0, 'PLA', '#00AE42', 10), tray(1, 'PLA', '#00AE42', 90), tray(2, 'PLA', '#05B045', 100)]);
    expect(planAms([green], p, null)).toEqual({ ok: true, useAms: true, mapping: [1] });
  });

  it('one filament and no AMS: the external spool (use_ams false), unless it holds another type', () => {
    expect(planAms([green], printer([], tray(254, 'PLA', '#FFFFFF')), null)).toEqual({
      ok: true,
      useAms: false,
      mapping: [],
    });
    expect(planAms([green], printer([], tray(254, null, null)), null)).toEqual({
      ok: true,
      useAms: false,
      mapping: [],
    });
    expect(planAms([green], printer([], tray(254, 'PETG', '#00AE42')), null)).toMatchObject({ ok: false });
    // Two colours need an AMS.
    expect(planAms([green, red], printer([], tray(254, 'PLA', null)), null)).toMatchObject({ ok: false });
  });

  it('an explicit mapping wins as given; 254 (external spool) is sent as -1', () => {
    const p = printer([tray(0, 'PETG', '#000000')]);
    expect(planAms([green, red], p, [3, 254])).toEqual({ ok: true, useAms: true, mapping: [3, -1] });
    expect(planAms([green], p, [254])).toEqual({ ok: true, useAms: false, mapping: [] });
  });

  it('printers that do not report filament (Marlin, Klipper) and files without filaments need nothing', () => {
    expect(planAms([green, red], null, null)).toEqual({ ok: true, useAms: false, mapping: [] });
    expect(planAms([], printer([tray(0, 'PLA', '#000000')]), null)).toEqual({ ok: true, useAms: false, mapping: [] });
  });
});
