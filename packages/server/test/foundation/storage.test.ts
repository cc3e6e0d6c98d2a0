import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Storage, migrate, openStorage } from '../../src/storage/db.ts';
import { SecretBox } from '../../src/storage/secrets.ts';
import { createTempDatabase } from '../helpers/pg.ts';
import { tempDir } from '../helpers/server.ts';

describe.each(['sqlite', 'postgres'] as const)('storage on %s', (dialect) => {
  let storage: Storage;
  let drop: (() => Promise<void>) | undefined;
  const dataDir = tempDir();

  beforeAll(async () => {
    let databaseUrl: string | null = null;
    if (dialect === 'postgres') {
      const db = await createTempDatabase();
      databaseUrl = db.url;
      drop = db.drop;
    }
    storage = await openStorage({ dataDir, databaseUrl });
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });

  it('runs every migration, and running them again changes nothing', async () => {
    expect(storage.dialect).toBe(dialect);
    await migrate(storage.db, dialect);
    const tables = (await storage.db.introspection.getTables()).map((t) => t.name);
    for (const t of ['users', 'refresh_tokens', 'api_keys', 'printers', 'events', 'files', 'queue_items', 'jobs', 'printer_uploads', 'kv']) {
      expect(tables).toContain(t);
    }
  });

  it('stores sizes beyond 2^31 as numbers', async () => {
    const size = 5 * 1024 ** 3;
    await storage.db
      .insertInto('printer_uploads')
      .values({ printer_id: 'p', file_name: 'big.gcode.3mf', size, md5: 'X', uploaded_at: new Date().toISOString() })
      .execute();
    const row = await storage.db.selectFrom('printer_uploads').selectAll().where('printer_id', '=', 'p').executeTakeFirstOrThrow();
    expect(row.size).toBe(size);
    expect(typeof row.size).toBe('number');
  });

  it('gives events increasing ids and enforces unique usernames', async () => {
    const at = new Date().toISOString();
    await storage.db.insertInto('events').values({ type: 'a', printer_id: null, data_json: '{}', at }).execute();
    await storage.db.insertInto('events').values({ type: 'b', printer_id: null, data_json: '{}', at }).execute();
    const ids = (await storage.db.selectFrom('events').select('id').orderBy('id').execute()).map((r) => r.id);
    expect(ids[1]).toBeGreaterThan(ids[0]!);
    const user = { id: 'u1', username: 'same', password_hash: 'h', role: 'admin', created_at: at };
    await storage.db.insertInto('users').values(user).execute();
    await expect(storage.db.insertInto('users').values({ ...user, id: 'u2' }).execute()).rejects.toThrow();
  });

  it('rolls a failed transaction back whole', async () => {
    await expect(
      storage.db.transaction().execute(async (trx) => {
        await trx.insertInto('kv').values({ key: 'tx-test', value: '1' }).execute();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await storage.db.selectFrom('kv').selectAll().where('key', '=', 'tx-test').executeTakeFirst()).toBeUndefined();
  });
});

describe('secrets at rest', () => {
  it('encrypts with a per-data-dir key and refuses tampered values', () => {
    const dir = tempDir();
    const box = SecretBox.fromDataDir(dir);
    const sealed = box.encrypt('12345678');
    expect(sealed).not.toContain('12345678');
    expect(box.encrypt('12345678')).not.toBe(sealed);
    expect(SecretBox.fromDataDir(dir).decrypt(sealed)).toBe('12345678');
    expect(() => SecretBox.fromDataDir(tempDir()).decrypt(sealed)).toThrow();
    const raw = Buffer.from(sealed.slice(7), 'base64');
    raw[raw.length - 1]! ^= 1;
    expect(() => box.decrypt(`enc:v1:${raw.toString('base64')}`)).toThrow();
  });
});
