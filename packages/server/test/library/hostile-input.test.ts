import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { filesUnder, fixture, makeLibrary, pixelsOf, streamOf, type TestLibrary } from './helpers.ts';
import { buildZip, SLICE_INFO, sliced3mf, TINY_PNG } from './zip-writer.ts';

/**
 * Every refusal: 400 invalid_file with a message naming the problem, nothing left in (or outside)
 * the data dir, and the library keeps working afterwards.
 */
let t: TestLibrary;
const limits = { maxZipEntryBytes: 4 * 1024 * 1024, maxZipRatio: 200 };

beforeAll(async () => {
  t = await makeLibrary(limits);
});
afterAll(() => t.close());

afterEach(async () => {
  // No stored files, no leftovers from the refused upload, no escape next to the data dir.
  expect(filesUnder(t.dataDir)).toEqual([]);
  expect(fs.readdirSync(path.dirname(t.dataDir)).filter((n) => n === 'evil.txt' || n === 'escaped')).toEqual([]);
  expect(await t.library.list()).toEqual([]);
});

async function refused(buf: Buffer, message: RegExp | string, name = 'x.gcode.3mf') {
  const err = await t.library.importStream(name, streamOf(buf)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toMatchObject({ kind: 'invalid', code: 'invalid_file' });
  expect((err as Error).message).toMatch(message);
}

describe('zip refusals', () => {
  it('refuses an entry name with ../', async () => {
    await refused(sliced3mf([{ name: '../evil.txt', data: 'x' }]), /outside the archive/);
  });

  it('refuses a nested ../ entry', async () => {
    await refused(sliced3mf([{ name: 'Metadata/../../escaped/evil.txt', data: 'x' }]), /outside the archive/);
  });

  it('refuses an absolute entry name', async () => {
    await refused(sliced3mf([{ name: '/tmp/evil.txt', data: 'x' }]), /absolute path/);
  });

  it('refuses a Windows drive entry name', async () => {
    await refused(sliced3mf([{ name: 'C:/evil.txt', data: 'x' }]), /absolute path/);
  });

  it('refuses a backslash entry name', async () => {
    await refused(sliced3mf([{ name: '..\\evil.txt', data: 'x' }]), /backslash/);
  });

  it('refuses a symbolic link (unix mode in the external attributes)', async () => {
    const link = { name: 'Metadata/link', data: '/etc/passwd', versionMadeBy: 0x0314, externalAttributes: (0o120777 << 16) >>> 0 };
    await refused(sliced3mf([link]), /symbolic link/);
  });

  it('refuses duplicate entry names', async () => {
    const zip = buildZip([
      { name: 'Metadata/slice_info.config', data: SLICE_INFO },
      { name: 'Metadata/plate_1.gcode', data: 'G28\n' },
      { name: 'Metadata/plate_1.gcode', data: 'G28\nG1 X1\n' },
    ]);
    await refused(zip, /twice/);
  });

  it('refuses an entry declaring more than maxZipEntryBytes', async () => {
    const big = Buffer.alloc(limits.maxZipEntryBytes + 1, 0x3b);
    await refused(sliced3mf([{ name: 'Metadata/huge.bin', data: big, method: 0 }]), /over the limit/);
  });

  it('refuses an entry with an absurd compression ratio', async () => {
    await refused(sliced3mf([{ name: 'Metadata/bomb.txt', data: Buffer.alloc(1024 * 1024, 0x41) }]), /compression ratio/);
  });

  it('refuses an entry whose declared size lies (inflates past it)', async () => {
    // Declares 100 bytes, inflates to 100 KiB: inflation must stop at the declared size.
    const gcode = '; total estimated time: 1m\n' + 'G1 X1 Y1\n'.repeat(11_000);
    const zip = sliced3mf([{ name: 'Metadata/plate_1.gcode', data: gcode, declaredSize: 100 }], { md5: false });
    await refused(zip, /past its declared size/);
  });

  it('refuses entries that overlap (one compressed kernel counted many times)', async () => {
    const gcode = 'G1 X1 Y1\n'.repeat(1000);
    const zip = buildZip([
      { name: 'Metadata/plate_1.gcode', data: gcode },
      { name: 'Metadata/plate_2.gcode', data: gcode, sameDataAs: 0 },
    ]);
    await refused(zip, /overlap/);
  });

  it('refuses an archive whose declared total is over budget', async () => {
    const part = Buffer.alloc(3 * 1024 * 1024, 0x20);
    const zip = sliced3mf([1, 2, 3, 4, 5, 6].map((n) => ({ name: `Metadata/part_${n}.bin`, data: part, method: 0 })));
    await refused(zip, /in total, over the limit/);
  });

  it('refuses an encrypted entry', async () => {
    // ZipCrypto: a 12-byte encryption header precedes the (stored) data.
    const secret = { name: 'Metadata/secret.txt', data: Buffer.alloc(12 + 5, 0x55), declaredSize: 5, flags: 0x1, method: 0 };
    await refused(sliced3mf([secret]), /encrypted/);
  });

  it('refuses an unsupported compression method', async () => {
    await refused(sliced3mf([{ name: 'Metadata/x.bin', data: 'abc', method: 0, declaredMethod: 14 }]), /compression method 14/);
  });

  it('refuses a non-UTF-8 entry name', async () => {
    const name = Buffer.from([0x4d, 0x65, 0x74, 0x61, 0xe9, 0x2e, 0x74, 0x78, 0x74]); // "Meta\xe9.txt", no UTF-8 flag
    await refused(sliced3mf([{ name, data: 'x' }]), /not UTF-8/);
  });

  it('refuses an invalid UTF-8 name flagged as UTF-8', async () => {
    const name = Buffer.from([0x61, 0xff, 0xfe, 0x2e, 0x74]);
    await refused(sliced3mf([{ name, data: 'x', flags: 0x800 }]), /not valid UTF-8/);
  });

  it('refuses a truncated zip', async () => {
    const zip = sliced3mf();
    await refused(zip.subarray(0, Math.floor(zip.length * 0.6)), /not a valid zip archive/);
  });

  it('refuses a zip whose central directory is cut off', async () => {
    const zip = sliced3mf();
    await refused(zip.subarray(0, zip.length - 10), /not a valid zip archive/);
  });

  it('refuses data that is not a zip at all', async () => {
    await refused(Buffer.from('G28\nG1 X10\n'), /not a zip archive/);
  });

  it('refuses a zip with PK magic but garbage after it', async () => {
    await refused(Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(200, 7)]), /not a valid zip archive/);
  });

  it('refuses a corrupt deflate stream', async () => {
    const zip = sliced3mf([], { md5: false });
    const gcodeAt = zip.indexOf('Metadata/plate_1.gcode') + 'Metadata/plate_1.gcode'.length;
    zip.fill(0xff, gcodeAt, gcodeAt + 20);
    await refused(zip, /corrupt|not a valid zip|truncated/);
  });

  it('refuses the real unsliced project (.3mf) with the "slice the plate" message', async () => {
    await refused(
      fs.readFileSync(fixture('fdm-monster.bambu-2-plates.3mf')),
      'slice the plate and export a plate sliced file',
      'fdm-monster.bambu-2-plates.3mf',
    );
  });

  it('refuses malformed slice_info.config XML', async () => {
    await refused(sliced3mf([{ name: 'Metadata/slice_info.config', data: '<config><plate><metadata key="index" value="1"></config>' }]), /not well-formed XML/);
  });

  it('refuses XML with a DTD (entity expansion)', async () => {
    const xml = '<?xml version="1.0"?><!DOCTYPE config [<!ENTITY a "aaaa">]><config>&a;</config>';
    await refused(sliced3mf([{ name: 'Metadata/model_settings.config', data: xml }]), /DTDs/);
  });

  it('refuses a zip with no G-code and no 3MF model', async () => {
    await refused(buildZip([{ name: 'readme.txt', data: 'hello' }]), /holds no G-code/);
  });
});

describe('other refusals', () => {
  it('refuses an unsupported extension before storing anything', async () => {
    await refused(Buffer.from('solid x'), /unsupported file type/, 'model.stl');
  });

  it('refuses a .gcode that is really a zip', async () => {
    await refused(sliced3mf(), /zip archive/, 'x.gcode');
  });

  it('refuses a .gcode with binary content', async () => {
    await refused(Buffer.concat([Buffer.from('G28\n'), Buffer.alloc(100, 0)]), /binary data/, 'x.gcode');
  });

  it('refuses an empty .gcode', async () => {
    await refused(Buffer.alloc(0), /empty/, 'x.gcode');
  });

  it('refuses a .bgcode without the GCDE magic', async () => {
    await refused(Buffer.from('G28\nG1 X1\n'), /GCDE/, 'x.bgcode');
  });

  it('refuses a truncated .bgcode', async () => {
    const head = Buffer.alloc(10);
    head.write('GCDE', 0, 'latin1');
    head.writeUInt32LE(1, 4);
    const block = Buffer.alloc(8 + 2);
    block.writeUInt16LE(3, 0);
    block.writeUInt32LE(5000, 4);
    await refused(Buffer.concat([head, block, Buffer.from('x=1')]), /truncated/, 'x.bgcode');
  });

  it('refuses a name that is only a path', async () => {
    await refused(Buffer.from('G28\n'), /no usable file name/, 'dir/');
  });
});

describe('fuzzed real files', () => {
  it('answers every corrupted copy of a real file with a record or a 400, never anything else', async () => {
    const original = fs.readFileSync(fixture('fdm-monster.bambu.gcode.3mf'));
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < 60; i++) {
      const copy = Buffer.from(original);
      if (i % 3 === 0) {
        for (let k = 0; k < 8; k++) copy[rnd(copy.length)] = rnd(256);
      } else if (i % 3 === 1) {
        // Damage the central directory / end record, where the parser looks first.
        for (let k = 0; k < 4; k++) copy[copy.length - 1 - rnd(1500)] = rnd(256);
      }
      const input = i % 3 === 2 ? copy.subarray(0, rnd(copy.length)) : copy;
      try {
        const { file } = await t.library.importStream(`fuzz-${i}.gcode.3mf`, streamOf(input));
        outcomes.ok++;
        await t.library.delete(file.id);
      } catch (err) {
        expect(err, `case ${i}`).toMatchObject({ kind: 'invalid', code: 'invalid_file' });
        outcomes.refused++;
      }
    }
    expect(outcomes.refused).toBeGreaterThan(10);
  });

  it('stays linear on a G-code head full of unterminated thumbnail blocks', async () => {
    const text = '; thumbnail begin 300x300 99999\n'.repeat(30_000) + 'G28\n';
    const { file } = await t.library.importStream('many-begins.gcode', streamOf(text));
    expect(file.plates[0].hasThumbnail).toBe(false);
    await t.library.delete(file.id);
  });
});

describe('after all that', () => {
  it('still imports a valid file (and removes it, leaving the data dir clean)', async () => {
    const { file } = await t.library.importStream('ok.gcode.3mf', streamOf(sliced3mf()));
    expect(file.plates[0].hasThumbnail).toBe(true);
    expect(zlib.crc32(fs.readFileSync(t.library.localPath(file)))).toBe(zlib.crc32(sliced3mf()));
    const served = await pixelsOf(fs.readFileSync((await t.library.thumbnailPath(file.id, 1))!));
    expect(served).toEqual({ ...(await pixelsOf(TINY_PNG)), format: 'png' });
    await t.library.delete(file.id);
  });
});
