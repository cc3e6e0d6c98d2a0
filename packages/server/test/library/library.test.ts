import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { filesUnder, fixture, makeLibrary, streamOf, type TestLibrary } from './helpers.ts';
import { sliced3mf } from './zip-writer.ts';

describe.each(['sqlite', 'postgres'] as const)('file library on %s', (dialect) => {
  let t: TestLibrary;
  beforeEach(async () => {
    t = await makeLibrary({ maxUploadBytes: 300 * 1024 }, dialect);
  });
  afterEach(() => t.close());

  const A1 = 'fdm-monster.bambu.gcode.3mf';
  const TWO = 'fdm-monster.bambu-2-plates.gcode.3mf';

  async function addQueueItem(fileId: string, status: string) {
    const now = new Date().toISOString();
    await t.storage.db
      .insertInto('queue_items')
      .values({
        id: `q-${status}-${Math.random()}`,
        file_id: fileId,
        plate: 1,
        copies: 1,
        copies_done: 0,
        status,
        position: 0,
        overrides_json: '{}',
        printer_ids_json: '[]',
        last_error: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }

  describe('store', () => {
    it('stores a file under files/<sha256>/ with its thumbnails, hashes sha256 and md5 of the bytes', async () => {
      const bytes = fs.readFileSync(fixture(TWO));
      const { file, created } = await t.library.importPath(TWO, fixture(TWO));
      expect(created).toBe(true);
      expect(file.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(file.md5).toBe(createHash('md5').update(bytes).digest('hex'));
      expect(file.size).toBe(bytes.length);
      expect(file.uploadedAt).toBe(new Date(t.clock.now()).toISOString());
      expect(filesUnder(t.dataDir)).toEqual([
        `files/${file.sha256}/content.gcode.3mf`,
        `files/${file.sha256}/plate_1.png`,
        `files/${file.sha256}/plate_2.png`,
      ]);
      expect(fs.readFileSync(t.library.localPath(file)).equals(bytes)).toBe(true);
      expect(file.plates[1].thumbnailUrl).toBe(`/api/v1/files/${file.id}/plates/2/thumbnail`);
      expect(await t.library.getFile(file.id)).toEqual(file);
      expect(t.events.map((e) => [e.type, e.data])).toEqual([['file.added', { fileId: file.id, name: TWO }]]);
    });

    it('stores the same bytes once: a second upload returns the existing record', async () => {
      const first = await t.library.importPath(A1, fixture(A1));
      const again = await t.library.importStream('other-name.gcode.3mf', fs.createReadStream(fixture(A1)));
      expect(again.created).toBe(false);
      expect(again.file).toEqual(first.file);
      expect(await t.library.list()).toHaveLength(1);
      expect(filesUnder(t.dataDir).filter((f) => f.endsWith('content.gcode.3mf'))).toHaveLength(1);
      expect(t.events.filter((e) => e.type === 'file.added')).toHaveLength(1);
    });

    it('stores the same bytes once when both uploads arrive at the same time', async () => {
      const results = await Promise.all([
        t.library.importPath('a.gcode.3mf', fixture(A1)),
        t.library.importPath('b.gcode.3mf', fixture(A1)),
        t.library.importPath('c.gcode.3mf', fixture(A1)),
      ]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.file.id)).size).toBe(1);
      expect(await t.library.list()).toHaveLength(1);
    });

    it('refuses an upload over maxUploadBytes with 413 and removes the temp file', async () => {
      const big = Readable.from(
        (function* () {
          for (let i = 0; i < 40; i++) yield Buffer.alloc(10 * 1024, 0x47);
        })(),
      );
      const err = await t.library.importStream('big.gcode', big).catch((e) => e);
      expect(err).toMatchObject({ kind: 'too_large', code: 'too_large' });
      expect(err.message).toMatch(/larger than the upload limit of 307200 bytes/);
      expect(filesUnder(t.dataDir)).toEqual([]);
      expect(fs.readdirSync(path.join(t.dataDir, 'files', '.incoming'))).toEqual([]);
    });

    it('treats a multipart stream truncated at its own limit as too large', async () => {
      const s = streamOf('G28\n') as Readable & { truncated?: boolean };
      s.truncated = true;
      await expect(t.library.importStream('x.gcode', s)).rejects.toMatchObject({ kind: 'too_large' });
      expect(filesUnder(t.dataDir)).toEqual([]);
    });

    it('accepts a .3mf that holds G-code', async () => {
    const { file } = await t.library.importStream('plate.3mf', streamOf(sliced3mf()));
    expect(file.kind).toBe('3mf');
    expect(t.library.localPath(file)).toMatch(/content\.gcode\.3mf$/);
  });

  it('removes stored dirs left without a record (crash between the move and the insert)', async () => {
    const orphan = path.join(t.dataDir, 'files', 'a'.repeat(64));
    fs.mkdirSync(orphan, { recursive: true });
    fs.writeFileSync(path.join(orphan, 'content.gcode'), 'G28\n');
    fs.mkdirSync(path.join(t.dataDir, 'files', '.incoming', 'left-over'), { recursive: true });
    const { file } = await t.library.importStream('x.gcode', streamOf('G28\nG1 X2\n'));
    expect(filesUnder(t.dataDir)).toEqual([`files/${file.sha256}/content.gcode`]);
  });

  it('keeps the file name from a path-like upload name', async () => {
      const { file } = await t.library.importStream(
        'C:\\Users\\me\\part.gcode',
        streamOf('; total layer number: 3\nG28\n'),
      );
      expect(file.name).toBe('part.gcode');
      expect(file.kind).toBe('gcode');
      expect(file.plates[0].layerCount).toBe(3);
      expect(file.plates[0].gcodeMd5).toBe(file.md5.toUpperCase());
    });
  });

  describe('list, rename, delete', () => {
    async function seed() {
      const a = (await t.library.importStream('Benchy.gcode.3mf', streamOf(sliced3mf()))).file;
      t.clock.advance(1000);
      const b = (await t.library.importPath('cube_small.gcode.3mf', fixture(A1))).file;
      t.clock.advance(1000);
      const c = (await t.library.importStream('a_bracket.gcode', streamOf('G28\nG1 X1\n'))).file;
      return { a, b, c };
    }

    it('lists newest first by default', async () => {
      const { a, b, c } = await seed();
      expect((await t.library.list()).map((f) => f.id)).toEqual([c.id, b.id, a.id]);
    });

    it('sorts by name, size and uploadedAt in both orders', async () => {
      const { a, b, c } = await seed();
      const ids = async (sort: 'name' | 'size' | 'uploadedAt', order?: 'asc' | 'desc') =>
        (await t.library.list({ sort, order })).map((f) => f.id);
      expect(await ids('name')).toEqual([c.id, a.id, b.id]);
      expect(await ids('name', 'desc')).toEqual([b.id, a.id, c.id]);
      expect(await ids('size', 'asc')).toEqual([c.id, a.id, b.id]);
      expect(await ids('size', 'desc')).toEqual([b.id, a.id, c.id]);
      expect(await ids('uploadedAt', 'asc')).toEqual([a.id, b.id, c.id]);
    });

    it('searches by a case-insensitive name substring, with % and _ taken literally', async () => {
      const { a, b } = await seed();
      expect((await t.library.list({ search: 'BENCHY' })).map((f) => f.id)).toEqual([a.id]);
      expect((await t.library.list({ search: 'cube_' })).map((f) => f.id)).toEqual([b.id]);
      expect(await t.library.list({ search: '%' })).toEqual([]);
      expect(await t.library.list({ search: 'e_s' })).toHaveLength(1);
      expect(await t.library.list({ search: 'nothing' })).toEqual([]);
    });

    it('renames, keeping the extension', async () => {
      const { a } = await seed();
      const renamed = await t.library.rename(a.id, 'Benchy v2.gcode.3mf');
      expect(renamed.name).toBe('Benchy v2.gcode.3mf');
      expect((await t.library.getFile(a.id))!.name).toBe('Benchy v2.gcode.3mf');
      await expect(t.library.rename(a.id, 'Benchy v2')).rejects.toMatchObject({
        kind: 'invalid',
        message: /extension/,
      });
      await expect(t.library.rename(a.id, '../x.gcode.3mf')).rejects.toMatchObject({ kind: 'invalid' });
      await expect(t.library.rename('nope', 'x.gcode.3mf')).rejects.toMatchObject({ kind: 'not_found' });
      // The stored bytes do not move with the name.
      expect(fs.existsSync(t.library.localPath(renamed))).toBe(true);
    });

    it('refuses to delete a file used by a waiting or printing queue item (409), allows it otherwise', async () => {
      const { a, b } = await seed();
      await addQueueItem(a.id, 'waiting');
      await addQueueItem(b.id, 'printing');
      await addQueueItem(b.id, 'done');
      await expect(t.library.delete(a.id)).rejects.toMatchObject({ kind: 'conflict', message: /queue/ });
      await expect(t.library.delete(b.id)).rejects.toMatchObject({ kind: 'conflict' });
      await t.storage.db.updateTable('queue_items').set({ status: 'cancelled' }).where('file_id', '=', a.id).execute();
      await t.library.delete(a.id);
      expect(await t.library.getFile(a.id)).toBeUndefined();
      expect(fs.existsSync(path.join(t.dataDir, 'files', a.sha256))).toBe(false);
      expect(t.events.at(-1)).toMatchObject({ type: 'file.removed', data: { fileId: a.id } });
      await expect(t.library.delete(a.id)).rejects.toMatchObject({ kind: 'not_found' });
    });

    it('can upload the same bytes again after deleting them', async () => {
      const { b } = await seed();
      await t.library.delete(b.id);
      const again = await t.library.importPath(A1, fixture(A1));
      expect(again.created).toBe(true);
      expect(await t.library.thumbnailPath(again.file.id, 1)).toMatch(/plate_1\.png$/);
    });

    it('gives thumbnail paths only for plates that have one', async () => {
      const { b, c } = await seed();
      expect(await t.library.thumbnailPath(b.id, 1)).toBe(path.join(t.dataDir, 'files', b.sha256, 'plate_1.png'));
      expect(await t.library.thumbnailPath(b.id, 2)).toBeNull();
      expect(await t.library.thumbnailPath(c.id, 1)).toBeNull();
      expect(await t.library.thumbnailPath('nope', 1)).toBeNull();
    });
  });
});
