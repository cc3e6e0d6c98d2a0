/** AMS trays and the external spool from real report captures (ha-bambulab fixtures). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFilament, trayColor } from '../../src/printers/bambu/filament.ts';
import { mergeReport, readReport } from '../../src/printers/bambu/report.ts';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';

const pushall = (name: string) => JSON.parse(readFileSync(path.join(BAMBU_FIXTURES, name), 'utf8')).pushall.print;

describe('Bambu filament', () => {
  it('reads every AMS unit and tray of a multi-AMS X1C (three AMS and an AMS HT), and an unset external spool', () => {
    const f = readFilament(pushall('ha-bambulab.MOCK-X1CMULTIAMS.json'))!;
    expect(f.ams.map((u) => u.id)).toEqual([0, 1, 2, 128]);
    // An AMS HT has one tray, addressed by the unit id itself.
    expect(f.ams[3]!.trays[0]!.slot).toBe(128);
    expect(f.ams[0]!.trays[0]).toEqual({
      id: 0,
      slot: 0,
      type: 'PLA',
      color: '#000000',
      remainingPercent: 93,
      empty: false,
    });
    expect(f.ams[0]!.humidity).toBe(8);
    expect(f.ams[1]!.trays[0]!.slot).toBe(4);
    expect(f.ams[1]!.trays[0]!.color).toBe('#D32941');
    // vt_tray with an empty type and colour 00000000: nothing known loaded.
    expect(f.external).toMatchObject({ slot: 254, type: null, color: null, empty: true });
  });

  it('reads a P1P without AMS: no units, the external spool (PETG) in use', () => {
    const f = readFilament(pushall('ha-bambulab.MOCK-P1PNOAMS.json'))!;
    expect(f.ams).toEqual([]);
    expect(f.external).toMatchObject({ slot: 254, type: 'PETG', color: '#BCBCBC', empty: false });
    expect(f.activeSlot).toBe(254);
  });

  it('a delta naming one AMS unit replaces that unit only; a delta without vt_tray keeps the external spool', () => {
    const base = pushall('ha-bambulab.MOCK-X1CMULTIAMS.json');
    const unit1 = structuredClone(base.ams.ams[1]);
    unit1.tray[0] = { id: '0' }; // spool pulled out of AMS 1 tray 0
    const merged = mergeReport(base, { ams: { ams: [unit1] } });
    const f = readReport(merged).filament!;
    expect(f.ams).toHaveLength(4);
    expect(f.ams[0]!.trays[0]!.type).toBe('PLA');
    expect(f.ams[1]!.trays[0]).toMatchObject({ slot: 4, type: null, empty: true });
    expect(f.external).not.toBeNull();
  });

  it('colours: RRGGBBAA → #RRGGBB, unset → null', () => {
    expect(trayColor('76D9F4FF')).toBe('#76D9F4');
    expect(trayColor('00000000')).toBeNull();
    expect(trayColor('')).toBeNull();
    expect(trayColor('zz')).toBeNull();
  });
});
