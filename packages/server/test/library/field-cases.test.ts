import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import QOI from 'qoijs';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupAdmin, startTestServer, type TestServer } from '../helpers/server.ts';
import { pixelsOf } from './helpers.ts';

/**
 * The field cases of the library (../shared/cases: gcode-per-filament-grams, gcode-qoi-thumbnail,
 * slicer-plateindex), uploaded to a whole server over real HTTP, and checked against an independent
 * reading of the same files (the G-code comments, the QOI block decoded here, the zip entries
 * hashed here).
 */
const CASES = path.resolve(import.meta.dirname, '../../../../../shared/cases');
const caseFile = (...p: string[]) => path.join(CASES, ...p);

let s: TestServer;
let token: string;

beforeAll(async () => {
  s = await startTestServer();
  token = (await setupAdmin(s)).accessToken;
});
afterAll(() => s?.destroy());

function form(name: string, bytes: Buffer, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  f.append('file', new Blob([new Uint8Array(bytes)]), name);
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

async function upload(file: string, name = path.basename(file)) {
  const res = await s.api('POST', '/api/v1/files', { token, body: form(name, fs.readFileSync(file)) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** MD5 of each `Metadata/plate_N.gcode` entry, read here with yauzl directly. */
async function plateMd5s(file: string): Promise<Record<string, string>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true }, (err, z) => (err || !z ? reject(err) : resolve(z))),
  );
  const out: Record<string, string> = {};
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      if (!/^Metadata\/plate_\d+\.gcode$/.test(entry.fileName)) return zip.readEntry();
      zip.openReadStream(entry, (err, stream) => {
        if (err || !stream) return reject(err);
        const h = createHash('md5');
        stream.on('data', (c: Buffer) => h.update(c));
        stream.on('end', () => {
          out[entry.fileName] = h.digest('hex').toUpperCase();
          zip.readEntry();
        });
      });
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  zip.close();
  return out;
}

describe('gcode-per-filament-grams (Orca-Flashforge 1.4.2, two filaments)', () => {
  it('lists both filaments with their own grams, colours and lengths', async () => {
    const file = await upload(caseFile('gcode-per-filament-grams', 'orca-flashforge_v1.4.2_2color.gcode'));
    const plate = file.plates[0];
    // "; filament used [g] = 9.46, 9.23", "[mm] = 3171.63, 3095.16", filament_type PLA;SILK,
    // filament_colour #808000;#00C1AE.
    expect(plate.filaments).toEqual([
      { id: 1, type: 'PLA', color: '#808000', grams: 9.46, meters: 3.172 },
      { id: 2, type: 'SILK', color: '#00C1AE', grams: 9.23, meters: 3.095 },
    ]);
    expect(plate.weightGrams).toBe(18.69);
    expect(plate.layerCount).toBe(240);
    expect(plate.estimatedSeconds).toBe(4 * 3600 + 34 * 60 + 40);
  });
});

describe('gcode-qoi-thumbnail (PrusaSlicer 2.8.1, QOI thumbnails only)', () => {
  const gcodePath = caseFile('gcode-qoi-thumbnail', 'mini_cube_ps2.8.1.gcode');

  it('serves the largest QOI thumbnail as a PNG with the same pixels, and counts 31 layers', async () => {
    const file = await upload(gcodePath);
    const plate = file.plates[0];
    expect(plate.layerCount).toBe(31);
    expect(plate.hasThumbnail).toBe(true);
    expect(plate.filaments).toEqual([{ id: 1, type: 'PLA', color: '#FF8000', grams: 0.75, meters: 0.252 }]);

    const res = await fetch(s.url + plate.thumbnailUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await res.arrayBuffer());

    // Independently: the 313x173 QOI block of the G-code, decoded here.
    const text = fs.readFileSync(gcodePath, 'latin1');
    const block = /; thumbnail_QOI begin 313x173 \d+\n([\s\S]*?); thumbnail_QOI end/.exec(text)![1]!;
    const qoi = Buffer.from(block.replace(/^; ?/gm, '').replace(/\s/g, ''), 'base64');
    const decoded = QOI.decode(qoi.buffer, qoi.byteOffset, qoi.byteLength, 4);
    const served = await pixelsOf(png);
    expect(served).toMatchObject({ format: 'png', width: 313, height: 173 });
    expect(served.rgba.equals(Buffer.from(decoded.data))).toBe(true);
  });
});

describe('slicer-plateindex (OrcaSlicer / Bambu Studio "upload and print")', () => {
  const plate4 = caseFile('slicer-plateindex', 'bracket_plate_4.gcode.3mf');
  const all = caseFile('slicer-plateindex', 'bracket_all.gcode.3mf');

  async function octoUpload(file: string, fields: Record<string, string>, name = path.basename(file)) {
    const key = await apiKey();
    const res = await fetch(`${s.url}/api/files/local`, {
      method: 'POST',
      headers: { 'X-Api-Key': key },
      body: form(name, fs.readFileSync(file), fields),
    });
    return { status: res.status, body: (await res.json()) as any };
  }
  let key: string | null = null;
  async function apiKey(): Promise<string> {
    if (key) return key;
    const res = await s.api('POST', '/api/v1/api-keys', { token, body: { name: 'orca', role: 'operator' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    key = res.body.key as string;
    return key;
  }
  async function queuedPlates(): Promise<Array<[string, number]>> {
    const q = await s.api('GET', '/api/v1/queue', { token });
    return q.body.items.map((i: any) => [i.fileName, i.plate]);
  }
  async function clearQueue() {
    const q = await s.api('GET', '/api/v1/queue', { token });
    for (const i of q.body.items) expect((await s.api('DELETE', `/api/v1/queue/${i.id}`, { token })).status).toBe(204);
  }

  it('reports the real MD5 of each plate (checked against the G-code bytes)', async () => {
    const expected = await plateMd5s(all);
    const file = await upload(all);
    expect(Object.fromEntries(file.plates.map((p: any) => [p.gcodePath, p.gcodeMd5]))).toEqual(expected);
    expect(file.plates.map((p: any) => p.index)).toEqual([1, 2, 3]);
  });

  it('queues the only sliced plate (4) when no plateindex is sent: never "has no plate 1"', async () => {
    await clearQueue();
    const res = await octoUpload(plate4, { print: 'true' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.effectivePrint).toBe(true);
    expect(await queuedPlates()).toEqual([['bracket_plate_4.gcode.3mf', 4]]);
  });

  it('queues the plate the slicer names in plateindex', async () => {
    await clearQueue();
    expect((await octoUpload(plate4, { print: 'true', plateindex: '4' })).status).toBe(201);
    expect((await octoUpload(all, { plateindex: '2', print: 'true' })).status).toBe(201);
    expect(await queuedPlates()).toEqual([
      ['bracket_plate_4.gcode.3mf', 4],
      ['bracket_all.gcode.3mf', 2],
    ]);
  });

  it('remembers the named plate for a later select/print of the same file (two-step clients)', async () => {
    await clearQueue();
    const up = await octoUpload(all, { plateindex: '3' });
    expect(up.status).toBe(201);
    expect(await queuedPlates()).toEqual([]);
    const sel = await fetch(`${s.url}/api/files/local/${encodeURIComponent('bracket_all.gcode.3mf')}`, {
      method: 'POST',
      headers: { 'X-Api-Key': await apiKey(), 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'select', print: true }),
    });
    expect(sel.status).toBe(204);
    expect(await queuedPlates()).toEqual([['bracket_all.gcode.3mf', 3]]);
  });

  it('queues plate 1 of a multi-plate file without plateindex, as before', async () => {
    await clearQueue();
    expect((await octoUpload(all, { print: 'true' })).status).toBe(201);
    expect(await queuedPlates()).toEqual([['bracket_all.gcode.3mf', 1]]);
  });

  it('refuses a plateindex the file does not have, or that is not a plate number, with a code and params', async () => {
    await clearQueue();
    const missing = await octoUpload(all, { print: 'true', plateindex: '5' });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: 'plate_not_in_file', params: { plate: 5, plates: [1, 2, 3] } });
    expect(missing.body.error.message).toMatch(/has no plate 5 \(its sliced plates: 1, 2, 3\)/);
    const bad = await octoUpload(plate4, { print: 'true', plateindex: 'four' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_plateindex', params: { value: 'four' } });
    expect(await queuedPlates()).toEqual([]);
  });
});
