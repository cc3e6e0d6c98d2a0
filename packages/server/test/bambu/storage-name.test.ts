/**
 * Names the printer can store (case bambu-file-name-chars): the stored name is FAT-safe, unique per
 * content and the same for every copy; the simulated printer's FTPS refuses unsafe names with 553
 * like vsFTPd on a FAT card.
 */
import { Client } from 'basic-ftp';
import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isFatSafeName, MAX_STORAGE_NAME, storageFileName } from '../../src/printers/bambu/storage-name.ts';

const MD5 = '0123456789abcdef0123456789abcdef';
const OTHER = 'fedcba9876543210fedcba9876543210';

describe('storageFileName', () => {
  it('replaces every character FAT refuses, keeps the extension, adds the content tag', () => {
    expect(storageFileName('L|R.gcode.3mf', MD5)).toBe('L_R-01234567.gcode.3mf');
    expect(storageFileName('a\\b/c:d*e?f"g<h>i|j.gcode.3mf', MD5)).toBe('a_b_c_d_e_f_g_h_i_j-01234567.gcode.3mf');
    expect(storageFileName('tab\there\u0001\u007f.3mf', MD5)).toBe('tab_here__-01234567.3mf');
    expect(storageFileName('cube.GCODE.3MF', MD5)).toBe('cube-01234567.gcode.3mf');
    expect(storageFileName('...', MD5)).toBe('print-01234567');
    expect(storageFileName(' trailing dot. .gcode.3mf', MD5)).toBe('trailing dot-01234567.gcode.3mf');
    expect(storageFileName('零件 支架.gcode.3mf', MD5)).toBe('零件 支架-01234567.gcode.3mf');
  });

  it('is unique per content and the same for every copy of the same file', () => {
    expect(storageFileName('cube.gcode.3mf', MD5)).toBe(storageFileName('cube.gcode.3mf', MD5.toUpperCase()));
    expect(storageFileName('cube.gcode.3mf', MD5)).not.toBe(storageFileName('cube.gcode.3mf', OTHER));
    // Two display names that clean to the same text still differ when the bytes differ.
    expect(storageFileName('L|R.gcode.3mf', MD5)).not.toBe(storageFileName('L_R.gcode.3mf', OTHER));
  });

  it('keeps a sane length without splitting a character', () => {
    const long = `${'长'.repeat(300)}.gcode.3mf`;
    const name = storageFileName(long, MD5);
    expect(Array.from(name).length).toBeLessThanOrEqual(MAX_STORAGE_NAME);
    expect(name.endsWith('-01234567.gcode.3mf')).toBe(true);
    expect(name.includes('\uFFFD')).toBe(false);
    const emoji = storageFileName(`${'😀'.repeat(200)}.3mf`, MD5);
    expect(Array.from(emoji).every((c) => c === '😀' || /[-0-9a-f.3mf]/.test(c))).toBe(true);
  });

  it('every generated name is FAT-safe, whatever the input', () => {
    const nasty = ['', ' ', '.', '..', 'a.', 'CON', '|||', '\u0000', 'x'.repeat(1000), 'dir/sub\\file.gcode.3mf', '?.gcode'];
    for (const n of nasty) expect(isFatSafeName(storageFileName(n, MD5)), JSON.stringify(n)).toBe(true);
    expect(isFatSafeName('L|R.gcode.3mf')).toBe(false);
    expect(isFatSafeName('ok.gcode.3mf')).toBe(true);
  });
});

describe('the simulated printer storage is FAT (FTPS over real TLS)', () => {
  let sim: BambuSimulator | null = null;
  afterEach(async () => {
    await sim?.stop();
    sim = null;
  });

  it('STOR of a name FAT cannot hold is 553 "Could not create file."; a safe name is stored', async () => {
    sim = new BambuSimulator();
    await sim.start();
    const client = new Client(10_000);
    try {
      await client.access({
        host: sim.host,
        port: sim.ports.ftps,
        user: 'bblp',
        password: sim.accessCode,
        secure: 'implicit',
        secureOptions: { ca: sim.caCertPem, servername: sim.serial, maxVersion: 'TLSv1.2' },
      });
      const err = await client.uploadFrom(Readable.from([Buffer.from('x')]), 'L|R.gcode.3mf').catch((e) => e);
      expect(err?.code).toBe(553);
      expect(String(err?.message)).toContain('Could not create file');
      await client.uploadFrom(Readable.from([Buffer.from('abc')]), storageFileName('L|R.gcode.3mf', MD5));
      expect(sim.files()).toContainEqual({ name: 'L_R-01234567.gcode.3mf', size: 3 });
      expect(sim.files().some((f) => f.name.includes('|'))).toBe(false);
    } finally {
      client.close();
    }
  });
});
