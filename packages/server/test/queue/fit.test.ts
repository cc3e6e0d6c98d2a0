/**
 * The queue's fit check (queue/fit.ts): canonical model names, reported identity first, and a
 * machine-readable reason for every "no".
 */
import { describe, expect, it } from 'vitest';
import { fitProblem, noFitReason } from '../../src/queue/fit.ts';
import { fits, fitKey } from '../../src/queue/types.ts';

const x1cFile = { model: 'X1C', nozzleDiameter: 0.4, kind: '3mf' };
const bambu = (model: string | null, nozzleDiameter: number | null = 0.4) => ({ model, nozzleDiameter, kinds: ['3mf'] });

describe('fitProblem', () => {
  it('compares canonical models: X1 Carbon / BL-P001 / Bambu Lab X1-Carbon all fit an X1C file', () => {
    for (const m of ['X1 Carbon', 'BL-P001', 'Bambu Lab X1-Carbon', 'x1c']) expect(fitProblem(x1cFile, bambu(m)), m).toBeNull();
    expect(fitProblem({ ...x1cFile, model: 'BL-P001' }, bambu('X1 Carbon'))).toBeNull();
    expect(fitKey({ ...x1cFile, model: 'BL-P001' })).toBe(fitKey(x1cFile));
  });

  it('names each problem with a code and params; definite vs. not known yet', () => {
    expect(fitProblem(x1cFile, bambu('A1 mini'))).toMatchObject({
      code: 'printer_model_mismatch',
      params: { fileModel: 'X1C', printerModel: 'A1 mini' },
      definite: true,
    });
    expect(fitProblem(x1cFile, bambu(null))).toMatchObject({ code: 'printer_model_unknown', definite: false });
    expect(fitProblem(x1cFile, bambu('X1C', null))).toMatchObject({ code: 'printer_nozzle_unknown', definite: false });
    expect(fitProblem(x1cFile, bambu('X1C', 0.2))).toMatchObject({
      code: 'printer_nozzle_mismatch',
      params: { fileNozzle: 0.4, printerNozzle: 0.2 },
      definite: true,
    });
    expect(fitProblem({ model: null, nozzleDiameter: null, kind: 'gcode' }, bambu('X1C'))).toMatchObject({
      code: 'file_kind_unsupported',
      definite: true,
    });
  });

  it('plain G-code: the model is free text, only a known nozzle is compared; an unknown printer nozzle fits', () => {
    const gcode = { model: 'Ender-3 V2', nozzleDiameter: 0.4, kind: 'gcode' };
    const marlin = (model: string | null, nozzle: number | null) => ({ model, nozzleDiameter: nozzle, kinds: ['gcode'] });
    expect(fits(gcode, marlin('Prusa', 0.4))).toBe(true);
    expect(fits(gcode, marlin(null, null))).toBe(true);
    expect(fitProblem(gcode, marlin(null, 0.6))?.code).toBe('printer_nozzle_mismatch');
  });

  it('a 3mf without a model fits any printer of the kind (older Studio files name no model)', () => {
    expect(fits({ model: null, nozzleDiameter: null, kind: '3mf' }, bambu(null, null))).toBe(true);
  });
});

describe('noFitReason', () => {
  const printers = [
    { id: 'a', name: 'A', fit: bambu('A1 mini') },
    { id: 'b', name: 'B', fit: bambu(null) },
  ];
  it('a printer that has not said what it is makes the item wait for it (printer_model_unknown)', () => {
    expect(noFitReason(x1cFile, printers)).toMatchObject({ code: 'printer_model_unknown', params: { fileModel: 'X1C', printerIds: ['b'] } });
  });
  it('only definite mismatches: no_printer_fits listing each printer\'s reason', () => {
    expect(noFitReason(x1cFile, [printers[0]!])).toMatchObject({
      code: 'no_printer_fits',
      params: { printers: [{ printerId: 'a', code: 'printer_model_mismatch' }] },
    });
  });
  it('null when one printer fits or there are no printers at all', () => {
    expect(noFitReason(x1cFile, [...printers, { id: 'c', name: 'C', fit: bambu('X1 Carbon') }])).toBeNull();
    expect(noFitReason(x1cFile, [])).toBeNull();
  });
});
