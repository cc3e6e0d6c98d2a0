import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { AuthService } from '../../src/auth/auth-service.ts';
import { LoginRateLimiter } from '../../src/auth/rate-limit.ts';
import { buildApp } from '../../src/http/app.ts';
import { fileRoutes, octoprintCompatRoutes } from '../../src/library/routes.ts';
import { EventBus, type DomainEvent } from '../../src/events/bus.ts';
import { FileLibrary, type LibraryLimits } from '../../src/library/file-library.ts';
import type { StatFs } from '../../src/library/file-store.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { FakeClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { createTempDatabase } from '../helpers/pg.ts';

export const FIXTURES = path.resolve(import.meta.dirname, '../../../../../shared/fixtures/bambu');
export const fixture = (name: string) => path.join(FIXTURES, name);

export interface TestLibrary {
  library: FileLibrary;
  storage: Storage;
  dataDir: string;
  events: DomainEvent[];
  clock: FakeClock;
  close(): Promise<void>;
}

export async function makeLibrary(
  limits: Partial<LibraryLimits> = {},
  dialect: 'sqlite' | 'postgres' = 'sqlite',
  opts: { dataDir?: string; statfs?: StatFs } = {},
): Promise<TestLibrary> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-lib-'));
  const dbDir = opts.dataDir ? fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-lib-db-')) : dataDir;
  const pg = dialect === 'postgres' ? await createTempDatabase() : null;
  const storage = await openStorage({ dataDir: dbDir, databaseUrl: pg?.url ?? null });
  const clock = new FakeClock();
  const bus = new EventBus({ now: () => clock.now() });
  const events: DomainEvent[] = [];
  bus.onAny({}, (e) => events.push(e));
  const library = new FileLibrary({
    db: storage.db,
    dataDir,
    bus,
    clock,
    logger: silentLogger(),
    limits: { maxUploadBytes: 64 * 1024 * 1024, maxZipEntryBytes: 1024 ** 3, maxZipRatio: 1000, ...limits },
    statfs: opts.statfs,
  });
  return {
    library,
    storage,
    dataDir,
    events,
    clock,
    async close() {
      await library.close();
      await storage.close();
      await pg?.drop();
      // A data dir the caller gave (a mount point, say) stays theirs.
      if (dbDir !== dataDir) fs.rmSync(dbDir, { recursive: true, force: true });
      else fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The RGBA pixels and size of any image sharp reads (to compare a re-encoded PNG with its source). */
export async function pixelsOf(image: Buffer | Uint8Array): Promise<{ width: number; height: number; format: string; rgba: Buffer }> {
  const meta = await sharp(image).metadata();
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, format: meta.format ?? '', rgba: data };
}

export const streamOf = (buf: Buffer | string) => Readable.from([Buffer.from(buf)]);

/** Every file under `dir`, relative, excluding the database. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!e.name.startsWith('rwc.sqlite')) out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** The library's routes inside the real app (auth, error handler, multipart), listening on loopback. */
export async function startLibraryApp(
  t: TestLibrary,
  opts: { maxUploadBytes?: number; onPrintRequested?: (fileId: string, plate: number) => Promise<void> } = {},
): Promise<{ base: string; key: string; close(): Promise<void> }> {
  const auth = new AuthService({ db: t.storage.db, clock: t.clock, jwtKey: randomBytes(32), accessTtlSeconds: 900, refreshTtlSeconds: 3600 });
  const key = (await auth.createApiKey('slicer', 'operator', null)).key;
  const maxUploadBytes = opts.maxUploadBytes ?? 64 * 1024 * 1024;
  const app = await buildApp({
    logger: silentLogger(),
    auth,
    rateLimiter: new LoginRateLimiter(t.clock, 5, 60_000),
    version: 'test',
    maxUploadBytes,
    routes: [
      { prefix: '/api/v1', plugin: fileRoutes, opts: { library: t.library } },
      { prefix: '', plugin: octoprintCompatRoutes, opts: { library: t.library, onPrintRequested: opts.onPrintRequested ?? (async () => {}) } },
    ],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { base: `http://127.0.0.1:${port}`, key, close: () => app.close() };
}

/** A multipart body with the given file parts (field name, file name, bytes) and text fields. */
export function multipart(files: Array<[field: string, name: string, bytes: Buffer]>, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  for (const [field, name, bytes] of files) f.append(field, new Blob([new Uint8Array(bytes)]), name);
  return f;
}
