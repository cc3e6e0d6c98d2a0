import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse3mf } from '../../src/library/parse-3mf.ts';
import type { ParseResult } from '../../src/library/types.ts';
import { fixture } from './helpers.ts';
import { buildZip, PLATE_GCODE, SLICE_INFO, sliced3mf, TINY_PNG, type TestEntry } from './zip-writer.ts';

const limits = { maxEntryBytes: 1024 ** 3, maxRatio: 1000 };
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-3mf-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function parseBuffer(buf: Buffer): Promise<ParseResult> {
  const file = path.join(dir, 'in.gcode.3mf');
  fs.writeFileSync(file, buf);
  return parse3mf(file, { limits });
}

const md5 = (s: string | Buffer) => createHash('md5').update(s).digest('hex').toUpperCase();

describe('real Bambu Studio files', () => {
  it('reads the single-plate A1 mini file (Studio 02.04)', async () => {
    const r = await parse3mf(fixture('fdm-monster.bambu.gcode.3mf'), { limits });
    expect(r.kind).toBe('3mf');
    expect(r.printerModel).toBe('A1 mini');
    expect(r.nozzleDiameter).toBe(0.4);
    expect(r.slicer).toBe('BambuStudio 02.04.00.70');
    expect(r.plates).toHaveLength(1);
    const p = r.plates[0];
    expect(p).toMatchObject({
      index: 1,
      gcodePath: 'Metadata/plate_1.gcode',
      // md5sum of `unzip -p … Metadata/plate_1.gcode`
      gcodeMd5: '664F146910E9AED47F7C485DAD383682',
      estimatedSeconds: 1095,
      weightGrams: 2.83,
      layerCount: 90,
      printerModel: 'A1 mini',
      nozzleDiameter: 0.4,
    });
    expect(p.filaments).toEqual([{ id: 1, type: 'PLA', color: '#00AE42', grams: 2.83, meters: 0.93 }]);
    expect(p.thumbnails[0]).toMatchObject({ format: 'png' });
    expect(p.thumbnails[0]!.data.length).toBe(3659);
    expect(r.notes).toEqual([]);
  });

  it('reads both plates of the two-plate X1C file', async () => {
    const r = await parse3mf(fixture('fdm-monster.bambu-2-plates.gcode.3mf'), { limits });
    expect(r.printerModel).toBe('X1C');
    expect(r.plates.map((p) => [p.index, p.gcodePath, p.estimatedSeconds, p.weightGrams, p.layerCount])).toEqual([
      [1, 'Metadata/plate_1.gcode', 1216, 6.75, 128],
      [2, 'Metadata/plate_2.gcode', 1094, 3.91, 128],
    ]);
    expect(r.plates[0].gcodeMd5).toBe('581CBDB9CB05B6181658B0FC81552896');
    expect(r.plates[1].gcodeMd5).toMatch(/^[0-9A-F]{32}$/);
    expect(r.plates[1].thumbnails[0]!.data.length).toBe(14920);
    // The md5 files are true here: verified, nothing to say.
    expect(r.notes).toEqual([]);
  });

  it('refuses the unsliced project with the "slice the plate" message', async () => {
    await expect(parse3mf(fixture('fdm-monster.bambu-2-plates.3mf'), { limits })).rejects.toMatchObject({
      kind: 'invalid',
      code: 'invalid_file',
      message: expect.stringContaining('slice the plate and export a plate sliced file'),
    });
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('fallbacks', () => {
  const sliceInfoWithout = (key: string) => SLICE_INFO.replace(new RegExp(`\\s*<metadata key="${key}"[^>]*/>`), '');

  it('takes the time from the G-code header ("total estimated time") when slice_info has no prediction', async () => {
    const r = await parseBuffer(sliced3mf([{ name: 'Metadata/slice_info.config', data: sliceInfoWithout('prediction') }]));
    expect(r.plates[0].estimatedSeconds).toBe(600);
  });

  it('takes the time from "estimated printing time (normal mode)" in the header', async () => {
    const gcode = '; HEADER_BLOCK_START\n; estimated printing time (normal mode) = 1h 3m 4s\n; HEADER_BLOCK_END\nG28\n';
    const r = await parseBuffer(
      sliced3mf(
        [
          { name: 'Metadata/slice_info.config', data: sliceInfoWithout('prediction') },
          { name: 'Metadata/plate_1.gcode', data: gcode },
        ],
        { md5: false },
      ),
    );
    expect(r.plates[0].estimatedSeconds).toBe(3784);
  });

  it('computes the G-code MD5 from its bytes when plate_N.gcode.md5 is missing, and says so', async () => {
    const r = await parseBuffer(sliced3mf([], { md5: false }));
    expect(r.plates[0].gcodeMd5).toBe(md5(PLATE_GCODE));
    expect(r.notes.join()).toMatch(/missing or malformed: the MD5 of Metadata\/plate_1.gcode was computed/);
  });

  it('computes the MD5 when the md5 file is malformed', async () => {
    const r = await parseBuffer(sliced3mf([{ name: 'Metadata/plate_1.gcode.md5', data: 'not an md5' }]));
    expect(r.plates[0].gcodeMd5).toBe(md5(PLATE_GCODE));
  });

  it('treats plate_N.gcode.md5 as a claim: a wrong one is replaced by the real MD5, with a note', async () => {
    const r = await parseBuffer(sliced3mf([{ name: 'Metadata/plate_1.gcode.md5', data: 'ABCDEF0123456789ABCDEF0123456789' }]));
    expect(r.plates[0].gcodeMd5).toBe(md5(PLATE_GCODE));
    expect(r.notes).toEqual([
      `Metadata/plate_1.gcode.md5 claims ABCDEF0123456789ABCDEF0123456789 but Metadata/plate_1.gcode has MD5 ${md5(PLATE_GCODE)}: the real MD5 is used (the printer checks it)`,
    ]);
  });

  it('verifies every plate: a lower-case claim that matches is accepted, a wrong one on plate 2 is corrected', async () => {
    const g2 = `${PLATE_GCODE}G1 X20\n`;
    const r = await parseBuffer(
      sliced3mf([
        { name: 'Metadata/plate_1.gcode.md5', data: `${md5(PLATE_GCODE).toLowerCase()}\n` },
        { name: 'Metadata/plate_2.gcode', data: g2 },
        { name: 'Metadata/plate_2.gcode.md5', data: md5(PLATE_GCODE) },
      ]),
    );
    expect(r.plates.map((p) => p.gcodeMd5)).toEqual([md5(PLATE_GCODE), md5(g2)]);
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toMatch(/^Metadata\/plate_2\.gcode\.md5 claims/);
  });

  it('counts layer markers when the G-code header has no layer count (Bambu "; CHANGE_LAYER", Orca ";LAYER_CHANGE")', async () => {
    const bambu = '; HEADER_BLOCK_START\n; HEADER_BLOCK_END\nG28\n' + '; CHANGE_LAYER\n; Z_HEIGHT: 0.2\nG1 X1\n'.repeat(17);
    const orca = 'G28\n' + ';LAYER_CHANGE\n;Z:0.2\nG1 X1\n'.repeat(23);
    const noPrediction = (s: string) => s.replace(/\s*<metadata key="prediction"[^>]*\/>/, '');
    for (const [gcode, layers] of [
      [bambu, 17],
      [orca, 23],
    ] as const) {
      const r = await parseBuffer(
        sliced3mf([{ name: 'Metadata/slice_info.config', data: noPrediction(SLICE_INFO) }, { name: 'Metadata/plate_1.gcode', data: gcode }], { md5: false }),
      );
      expect(r.plates[0].layerCount).toBe(layers);
    }
  });

  it.each([
    ['Metadata/plate_1_small.png'],
    ['Metadata/top_1.png'],
  ])('falls back to %s for the thumbnail', async (thumbName) => {
    const zip = buildZip([
      { name: 'Metadata/slice_info.config', data: SLICE_INFO },
      { name: 'Metadata/plate_1.gcode', data: PLATE_GCODE },
      { name: thumbName, data: TINY_PNG, method: 0 },
    ]);
    const r = await parseBuffer(zip);
    expect(r.plates[0].thumbnails).toEqual([{ format: 'png', data: TINY_PNG }]);
  });

  it('prefers plate_N.png over the small and top pictures', async () => {
    const small = Buffer.concat([TINY_PNG, Buffer.from('small')]);
    const zip = sliced3mf([
      { name: 'Metadata/plate_1_small.png', data: small, method: 0 },
      { name: 'Metadata/top_1.png', data: small, method: 0 },
    ]);
    const r = await parseBuffer(zip);
    expect(Buffer.from(r.plates[0].thumbnails[0]!.data).equals(TINY_PNG)).toBe(true);
  });

  it('has no thumbnail candidate when there is no picture (or it is not an image format)', async () => {
    const r = await parseBuffer(sliced3mf([{ name: 'Metadata/plate_1.png', data: 'not a png', method: 0 }]));
    expect(r.plates[0].thumbnails).toEqual([]);
  });

  it('reads an OrcaSlicer-style file without slice_info from the header and project settings', async () => {
    const gcode =
      '; HEADER_BLOCK_START\n; generated by OrcaSlicer 2.2.0 on 2025-01-01 at 10:00:00\n; total layer number: 7\n' +
      '; total estimated time: 1d 1h 1m 1s\n; total filament weight [g] : 12.5\n; HEADER_BLOCK_END\nG28\n';
    const r = await parseBuffer(
      buildZip([
        { name: 'Metadata/plate_1.gcode', data: gcode },
        { name: 'Metadata/plate_1.gcode.md5', data: md5(gcode) },
        {
          name: 'Metadata/project_settings.config',
          data: JSON.stringify({ printer_model: 'Bambu Lab P1S', nozzle_diameter: ['0.6'] }),
        },
      ]),
    );
    expect(r.slicer).toBe('OrcaSlicer 2.2.0');
    expect(r.plates[0]).toMatchObject({
      estimatedSeconds: 90061,
      layerCount: 7,
      weightGrams: 12.5,
      printerModel: 'P1S',
      nozzleDiameter: 0.6,
      filaments: [],
    });
  });
});

describe('slice_info.config from several Bambu Studio versions', () => {
  const withSliceInfo = (config: string, extra: TestEntry[] = []) =>
    sliced3mf([{ name: 'Metadata/slice_info.config', data: config }, ...extra]);

  it('01.07.07.89 (no printer_model_id): sparse filament ids, model from project settings', async () => {
    const cfg = fs.readFileSync(fixture('slice_info.bambustudio-01.07.07.89.X1C.from-gcode3mf.config'), 'utf8');
    const r = await parseBuffer(
      withSliceInfo(cfg, [
        { name: 'Metadata/project_settings.config', data: JSON.stringify({ printer_model: 'Bambu Lab X1 Carbon' }) },
      ]),
    );
    const p = r.plates[0];
    expect(p.estimatedSeconds).toBe(11151);
    expect(p.weightGrams).toBe(58.41);
    expect(p.printerModel).toBe('X1C');
    expect(p.filaments.map((f) => f.id)).toEqual([1, 2, 3, 10]);
    expect(p.filaments[3]).toEqual({ id: 10, type: 'PLA', color: '#00AE42', grams: 4.58, meters: 1.51 });
  });

  it('01.10.01.50: C12 is a P1S, four filaments', async () => {
    const cfg = fs.readFileSync(fixture('slice_info.bambustudio-01.10.01.50.P1S.single-plate.config'), 'utf8');
    const r = await parseBuffer(withSliceInfo(cfg));
    expect(r.printerModel).toBe('P1S');
    expect(r.plates[0].filaments.map((f) => f.color)).toEqual(['#0000FF', '#FFFFFF', '#8E9089', '#000000']);
    expect(r.plates[0].estimatedSeconds).toBe(9541);
  });

  it('02.07 H2C dual nozzle: O1C2, "0.4,0.4" nozzles', async () => {
    const cfg = fs.readFileSync(fixture('rdiger36.h2c_dual_nozzle.slice_info.config'), 'utf8');
    const r = await parseBuffer(withSliceInfo(cfg));
    expect(r.printerModel).toBe('H2C');
    expect(r.nozzleDiameter).toBe(0.4);
    expect(r.plates[0].estimatedSeconds).toBe(29512);
    expect(r.plates[0].filaments.length).toBe(4);
  });

  it('02.08 P2S: N7, 0.6 nozzle, filament id 8', async () => {
    const cfg = fs.readFileSync(fixture('rdiger36.p2s_cloud_preset.slice_info.config'), 'utf8');
    const r = await parseBuffer(withSliceInfo(cfg));
    expect(r.printerModel).toBe('P2S');
    expect(r.nozzleDiameter).toBe(0.6);
    expect(r.plates[0].filaments).toEqual([{ id: 8, type: 'PLA', color: '#0EE2A0', grams: 7.5, meters: 2.52 }]);
  });

  it('maps N2S to A1 and drops the alpha of #RRGGBBAA colours', async () => {
    const r = await parseBuffer(sliced3mf());
    expect(r.printerModel).toBe('A1');
    expect(r.plates[0].filaments[0]).toMatchObject({ id: 3, type: 'PETG', color: '#FF0000' });
    expect(r.plates[0].layerCount).toBe(42);
  });
});
