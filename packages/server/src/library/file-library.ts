import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { sql } from 'kysely';
import type { EventBus } from '../events/bus.ts';
import { badRequest, conflict, notFound } from '../errors.ts';
import type { Db, FilesTable } from '../storage/schema.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { normaliseColor } from './filaments.ts';
import { diskFull, FileStore, type IncomingFile, isNoSpace, type StatFs } from './file-store.ts';
import { cleanFileName, kindFromName, requireKind } from './parse-file.ts';
import { ParsePool, type ParsePoolOptions } from './parse-pool.ts';
import { firstPng } from './thumbnail-png.ts';
import type { FileKind, FileRecord, LibraryView, ParseResult, PlateInfo, StoredPlate } from './types.ts';

export interface LibraryLimits {
  maxUploadBytes: number;
  maxZipEntryBytes: number;
  maxZipRatio: number;
  /** Free disk space uploads never use, bytes (default 0). */
  reserveBytes?: number;
}

/** An upload received into the incoming dir, not yet parsed or recorded. */
export interface ReceivedUpload {
  name: string;
  kind: FileKind;
  incoming: IncomingFile;
}

export interface ListQuery {
  search?: string;
  sort?: 'name' | 'uploadedAt' | 'size';
  order?: 'asc' | 'desc';
}

/** What meta_json holds. */
interface StoredMeta {
  plates: StoredPlate[];
  slicer: string | null;
  notes: string[];
}

/** The stored bytes' file name by kind; the display name can change, this never does. */
function storedExt(kind: FileRecord['kind']): string {
  return kind === '3mf' ? '.gcode.3mf' : kind === 'bgcode' ? '.bgcode' : '.gcode';
}

const sortColumns = { name: 'name', uploadedAt: 'uploaded_at', size: 'size' } as const;

export function thumbnailUrl(fileId: string, plate: number): string {
  return `/api/v1/files/${fileId}/plates/${plate}/thumbnail`;
}

/**
 * The file library: uploads land in a content-addressed store (the same bytes are kept once),
 * are parsed without loading them whole, and are recorded in the `files` table.
 */
export class FileLibrary implements LibraryView {
  readonly store: FileStore;
  readonly #db: Db;
  readonly #bus: EventBus;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #limits: LibraryLimits;
  readonly #dataDir: string;
  readonly #parser: ParsePool;
  /** sha256 → the import in progress, so two uploads of the same bytes become one record. */
  readonly #importing = new Map<string, Promise<unknown>>();
  #ready: Promise<void> | null = null;
  readonly #shared: boolean;

  constructor(opts: {
    db: Db;
    dataDir: string;
    bus: EventBus;
    clock: Clock;
    logger: Logger;
    limits: LibraryLimits;
    /** Parse worker pool settings (threads, queue, memory and time limits). */
    parsing?: ParsePoolOptions;
    /** Free-space probe (tests); fs.promises.statfs by default. */
    statfs?: StatFs;
    /** Scale-out: other server processes share the data dir and the (PostgreSQL) database. */
    shared?: boolean;
  }) {
    this.#shared = opts.shared ?? false;
    this.#db = opts.db;
    this.#bus = opts.bus;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#limits = opts.limits;
    this.#dataDir = path.resolve(opts.dataDir);
    this.store = new FileStore(this.#dataDir, { reserveBytes: opts.limits.reserveBytes ?? 0, statfs: opts.statfs, shared: this.#shared });
    this.#parser = new ParsePool(opts.parsing);
  }

  /**
   * Once, at start (main.ts) and in any case before the first import: removes half-received uploads
   * a crash left in files/.incoming and stored dirs no record points to.
   */
  init(): Promise<void> {
    this.#ready ??= (async () => {
      this.#parser.warm();
      await this.store.init();
      const rows = await this.#db.selectFrom('files').select('sha256').execute();
      const removed = await this.store.sweep(new Set(rows.map((r) => r.sha256)));
      if (removed.length) this.#logger.warn({ removed }, 'removed stored files that had no record');
    })();
    return this.#ready;
  }

  /** Ends the parse workers (server shutdown). */
  async close(): Promise<void> {
    await this.#parser.close();
  }

  /**
   * Stores and parses an upload. `created` is false when the same bytes were already in the
   * library: the existing record is returned unchanged (its name is kept).
   */
  async importStream(name: string, stream: Readable, expectedBytes: number | null = null): Promise<{ file: FileRecord; created: boolean }> {
    return this.importReceived(await this.receive(name, stream, expectedBytes));
  }

  /**
   * First half of an import: checks the name, then streams the bytes into the incoming dir (hashed,
   * size-limited, free space kept). A route reads the rest of its request before deciding to
   * importReceived() or discardReceived() it.
   */
  async receive(name: string, stream: Readable, expectedBytes: number | null = null): Promise<ReceivedUpload> {
    let cleanName: string;
    let kind: ReturnType<typeof requireKind>;
    try {
      cleanName = cleanFileName(name);
      kind = requireKind(cleanName);
      await this.init();
    } catch (err) {
      stream.resume(); // drain, so the request can finish and the refusal be read
      throw err;
    }
    const incoming = await this.store.receive(stream, this.#limits.maxUploadBytes, expectedBytes);
    return { name: cleanName, kind: kind.kind, incoming };
  }

  /** Drops a received upload that will not be imported. */
  discardReceived(upload: ReceivedUpload): Promise<void> {
    return this.store.discard(upload.incoming.dir);
  }

  /** Second half of an import: dedupe, parse (in a worker), store and record. Always consumes the upload. */
  async importReceived(upload: ReceivedUpload): Promise<{ file: FileRecord; created: boolean }> {
    const { name: cleanName, kind, incoming } = upload;
    try {
      // Same bytes uploading at the same time: wait for the first, then find its record.
      for (let pending = this.#importing.get(incoming.sha256); pending; pending = this.#importing.get(incoming.sha256)) {
        await pending.catch(() => {});
      }
      // No await between the check above and the set below: the map entry is the lock.
      const work = (async () => {
        const existing = await this.#findBySha(incoming.sha256);
        if (existing) return { file: existing, created: false };
        return this.#storeNew(cleanName, kind, incoming);
      })();
      this.#importing.set(incoming.sha256, work);
      try {
        return await work;
      } finally {
        if (this.#importing.get(incoming.sha256) === work) this.#importing.delete(incoming.sha256);
      }
    } finally {
      await this.store.discard(incoming.dir);
    }
  }

  async #storeNew(name: string, kind: FileKind, incoming: IncomingFile): Promise<{ file: FileRecord; created: boolean }> {
    const parsed = await this.#parser.parse({
      file: incoming.path,
      kind,
      limits: { maxEntryBytes: this.#limits.maxZipEntryBytes, maxRatio: this.#limits.maxZipRatio },
    });
    const plates = await this.#storeThumbnails(parsed, incoming);
    for (const p of plates) if (parsed.kind !== '3mf') p.gcodeMd5 ??= incoming.md5.toUpperCase();
    const storedPath = await this.#noSpaceAs507(() => this.store.commit(incoming, storedExt(parsed.kind)));
    const row: FilesTable = {
      id: randomUUID(),
      name,
      size: incoming.size,
      sha256: incoming.sha256,
      md5: incoming.md5,
      stored_path: storedPath,
      kind: parsed.kind,
      printer_model: parsed.printerModel,
      nozzle_diameter: parsed.nozzleDiameter,
      meta_json: JSON.stringify({ plates, slicer: parsed.slicer, notes: parsed.notes } satisfies StoredMeta),
      uploaded_at: new Date(this.#clock.now()).toISOString(),
    };
    let other: FilesTable | undefined;
    try {
      other = await this.#noSpaceAs507(() =>
        this.#db.transaction().execute(async (tx) => {
          if (this.#shared) {
            // Another process may be importing the same bytes: one record per content, cluster-wide.
            await sql`SELECT pg_advisory_xact_lock(hashtext(${incoming.sha256}))`.execute(tx);
            const found = await tx.selectFrom('files').selectAll().where('sha256', '=', incoming.sha256).executeTakeFirst();
            if (found) return found;
          }
          await tx.insertInto('files').values(row).execute();
          return undefined;
        }),
      );
    } catch (err) {
      // The stored dir goes only if no record (another process's) points at it.
      if (!(await this.#findBySha(incoming.sha256).catch(() => true))) await this.store.remove(incoming.sha256);
      throw err;
    }
    if (other) return { file: toRecord(other), created: false };
    for (const note of parsed.notes) this.#logger.info({ fileId: row.id, name }, note);
    this.#bus.emit('file.added', { fileId: row.id, name });
    return { file: toRecord(row), created: true };
  }

  /**
   * Each plate's thumbnail candidates re-encoded as PNG through sharp (thumbnail-png.ts) into the
   * incoming dir; a plate whose pictures do not decode gets none.
   */
  async #storeThumbnails(parsed: ParseResult, incoming: IncomingFile): Promise<StoredPlate[]> {
    const out: StoredPlate[] = [];
    for (const { thumbnails, ...plate } of parsed.plates) {
      const png = await firstPng(thumbnails);
      let thumbnailFile: string | null = null;
      if (png) {
        thumbnailFile = `plate_${plate.index}.png`;
        await this.#noSpaceAs507(() => fs.promises.writeFile(path.join(incoming.dir, thumbnailFile!), png));
      } else if (thumbnails.length) {
        parsed.notes.push(`plate ${plate.index}: its thumbnail does not decode as an image and is not shown`);
      }
      out.push({ ...plate, thumbnailFile });
    }
    return out;
  }

  /** Runs a write; a full disk (ENOSPC, EDQUOT, SQLITE_FULL, PostgreSQL 53100) becomes 507 disk_full. */
  async #noSpaceAs507<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (isNoSpace(err) || (err as { code?: unknown })?.code === '53100') {
        throw diskFull(await this.store.freeBytes().catch(() => 0), this.store.reserveBytes, null);
      }
      throw err;
    }
  }

  /** Imports a file already on disk (tests, demo data); the source is copied, not moved. */
  importPath(name: string, filePath: string): Promise<{ file: FileRecord; created: boolean }> {
    return this.importStream(name, fs.createReadStream(filePath), fs.statSync(filePath).size);
  }

  async list(q: ListQuery = {}): Promise<FileRecord[]> {
    let query = this.#db.selectFrom('files').selectAll();
    const search = q.search?.trim();
    if (search) {
      const pattern = `%${search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where(sql<boolean>`lower(name) like ${pattern} escape '\\'`);
    }
    const column = sortColumns[q.sort ?? 'uploadedAt'] ?? 'uploaded_at';
    const order = q.order ?? (q.sort && q.sort !== 'uploadedAt' ? 'asc' : 'desc');
    // Names sort as people read them (case-insensitive), on SQLite and PostgreSQL alike.
    const sortKey = column === 'name' ? sql`lower(name)` : sql.ref(column);
    const rows = await query.orderBy(sortKey, order).orderBy('id', order).execute();
    return rows.map(toRecord);
  }

  async getFile(id: string): Promise<FileRecord | undefined> {
    const row = await this.#db.selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /** The newest file called exactly `name` (OctoPrint clients address files by name). */
  async findByName(name: string): Promise<FileRecord | undefined> {
    const row = await this.#db
      .selectFrom('files')
      .selectAll()
      .where('name', '=', name)
      .orderBy('uploaded_at', 'desc')
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async #findBySha(sha256: string): Promise<FileRecord | undefined> {
    const row = await this.#db.selectFrom('files').selectAll().where('sha256', '=', sha256).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async #require(id: string): Promise<FileRecord> {
    const file = await this.getFile(id);
    if (!file) throw notFound(`file ${id}`);
    return file;
  }

  async rename(id: string, name: string): Promise<FileRecord> {
    const file = await this.#require(id);
    if (typeof name !== 'string' || !name.trim() || /[\\/\u0000-\u001f\u007f]/.test(name) || name.length > 255) {
      throw badRequest('name: must be 1-255 characters without "/", "\\" or control characters');
    }
    // Printers find files by extension (a Bambu printer wants .gcode.3mf): keep the kind's extension.
    if (kindFromName(name.trim())?.kind !== file.kind) {
      throw badRequest(`name: must keep the file's extension (${storedExt(file.kind)})`);
    }
    await this.#db.updateTable('files').set({ name: name.trim() }).where('id', '=', id).execute();
    return (await this.getFile(id))!;
  }

  /** Deletes the record and its bytes; 409 while a waiting or printing queue item uses the file. */
  async delete(id: string): Promise<void> {
    const file = await this.#require(id);
    const inUse = await this.#db
      .selectFrom('queue_items')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('file_id', '=', id)
      .where('status', 'in', ['waiting', 'printing'])
      .executeTakeFirst();
    const n = Number(inUse?.n ?? 0);
    if (n > 0) {
      throw conflict(
        `file "${file.name}" is used by ${n} waiting or printing queue item(s): remove them from the queue first`,
        'file_in_use',
      );
    }
    await this.#db.deleteFrom('files').where('id', '=', id).execute();
    // One record per sha256, so the bytes go with it (unless a racing import re-added them).
    if (!(await this.#findBySha(file.sha256))) await this.store.remove(file.sha256);
    this.#bus.emit('file.removed', { fileId: id });
  }

  /** Absolute path of plate `plate`'s PNG thumbnail, or null when the file has none. */
  async thumbnailPath(id: string, plate: number): Promise<string | null> {
    const row = await this.#db
      .selectFrom('files')
      .select(['sha256', 'meta_json'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return null;
    const meta = parseMeta(row.meta_json);
    const p = meta.plates.find((x) => x.index === plate);
    if (!p?.thumbnailFile || !/^plate_\d+\.png$/.test(p.thumbnailFile)) return null;
    const file = path.join(this.store.dirFor(row.sha256), p.thumbnailFile);
    return fs.existsSync(file) ? file : null;
  }

  localPath(file: FileRecord): string {
    return path.join(this.store.dirFor(file.sha256), `content${storedExt(file.kind)}`);
  }

  /** Path of the stored bytes from the database row (the name may have been renamed). */
  async storedPath(id: string): Promise<string | null> {
    const row = await this.#db.selectFrom('files').select('stored_path').where('id', '=', id).executeTakeFirst();
    return row ? path.join(this.#dataDir, row.stored_path) : null;
  }
}

function parseMeta(json: string): StoredMeta {
  try {
    const m = JSON.parse(json) as Partial<StoredMeta>;
    return { plates: m.plates ?? [], slicer: m.slicer ?? null, notes: m.notes ?? [] };
  } catch {
    return { plates: [], slicer: null, notes: [] };
  }
}

function toRecord(row: FilesTable): FileRecord {
  const meta = parseMeta(row.meta_json);
  const plates: PlateInfo[] = meta.plates.map(({ thumbnailFile, ...p }) => ({
    ...p,
    // Records stored before colours were validated may hold "" or a name: never serve those.
    filaments: (p.filaments ?? []).map((f) => ({ ...f, color: normaliseColor(f.color) })),
    hasThumbnail: !!thumbnailFile,
    thumbnailUrl: thumbnailFile ? thumbnailUrl(row.id, p.index) : null,
  }));
  return {
    id: row.id,
    name: row.name,
    size: Number(row.size),
    sha256: row.sha256,
    md5: row.md5,
    uploadedAt: row.uploaded_at,
    kind: row.kind as FileRecord['kind'],
    printerModel: row.printer_model,
    nozzleDiameter: row.nozzle_diameter === null ? null : Number(row.nozzle_diameter),
    plates,
  };
}
