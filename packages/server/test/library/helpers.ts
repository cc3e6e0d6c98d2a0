import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { EventBus, type DomainEvent } from '../../src/events/bus.ts';
import { FileLibrary, type LibraryLimits } from '../../src/library/file-library.ts';
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
): Promise<TestLibrary> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-lib-'));
  const pg = dialect === 'postgres' ? await createTempDatabase() : null;
  const storage = await openStorage({ dataDir, databaseUrl: pg?.url ?? null });
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
  });
  return {
    library,
    storage,
    dataDir,
    events,
    clock,
    async close() {
      await storage.close();
      await pg?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
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
