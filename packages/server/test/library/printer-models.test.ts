/**
 * One printer, one model name: every Bambu model's names and codes map to one canonical name
 * (library/printer-models.ts), so a .3mf (printer_model_id), a .gcode (printer_model), the printer
 * (get_version) and what the user typed compare equal.
 */
import { describe, expect, it } from 'vitest';
import {
  BAMBU_MODELS,
  canonicalPrinterModel,
  findBambuModel,
  printerModelFromId,
  printerModelFromName,
  sameModel,
} from '../../src/library/printer-models.ts';

describe('Bambu model names and codes', () => {
  it('"X1 Carbon" = "X1C" = BL-P001 = "Bambu Lab X1-Carbon" (get_version) = "Bambu Lab X1 Carbon 0.4 nozzle"', () => {
    for (const name of ['X1 Carbon', 'X1C', 'x1c', 'BL-P001', 'Bambu Lab X1 Carbon', 'Bambu Lab X1-Carbon', 'Bambu Lab X1 Carbon 0.4 nozzle']) {
      expect(canonicalPrinterModel(name), name).toBe('X1C');
    }
  });

  it('"A1 mini" = N1 = "Bambu Lab A1 mini" = A1M, and is not the A1 (N2S)', () => {
    for (const name of ['A1 mini', 'a1-mini', 'A1MINI', 'N1', 'Bambu Lab A1 mini', 'A1M', 'Bambu Lab A1 mini 0.2 nozzle']) {
      expect(canonicalPrinterModel(name), name).toBe('A1 mini');
    }
    expect(canonicalPrinterModel('N2S')).toBe('A1');
    expect(canonicalPrinterModel('Bambu Lab A1')).toBe('A1');
    expect(sameModel('A1', 'A1 mini')).toBe(false);
  });

  it('every model: its name, its codes (with revision suffixes like O1D-V2) and "Bambu Lab <name>" agree', () => {
    for (const m of BAMBU_MODELS) {
      for (const alias of [m.model, ...m.names, ...m.codes, `Bambu Lab ${m.model}`, ...m.codes.map((c) => `${c}-V2`)]) {
        expect(findBambuModel(alias)?.model, alias).toBe(m.model);
      }
    }
    expect(new Set(BAMBU_MODELS.map((m) => m.model)).size).toBe(BAMBU_MODELS.length);
    expect(canonicalPrinterModel('C12')).toBe('P1S');
    expect(canonicalPrinterModel('O1C2')).toBe('H2C');
    expect(canonicalPrinterModel('O1E')).toBe('H2D Pro');
    expect(canonicalPrinterModel('N6')).toBe('X2D');
    expect(canonicalPrinterModel('N7')).toBe('P2S');
  });

  it('other vendors pass through unchanged; empty is null', () => {
    expect(canonicalPrinterModel('Original Prusa MK4')).toBe('Original Prusa MK4');
    expect(canonicalPrinterModel('  ')).toBeNull();
    expect(canonicalPrinterModel(null)).toBeNull();
    expect(sameModel('Ender-3 V2', 'ender 3 v2')).toBe(true);
    expect(sameModel(null, null)).toBe(false);
  });

  it('.3mf (printer_model_id) and .gcode (printer_model) of the same printer give the same printerModel', () => {
    expect(printerModelFromName('Bambu Lab X1 Carbon')).toBe(printerModelFromId('BL-P001'));
    expect(printerModelFromName('Bambu Lab P1S')).toBe(printerModelFromId('C12'));
    expect(printerModelFromName('Bambu Lab A1 mini')).toBe(printerModelFromId('N1'));
  });
});
