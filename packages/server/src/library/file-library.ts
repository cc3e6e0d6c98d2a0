import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { sql } from 'kysely';
import type { EventBus } from '../events/bus.ts';
import { DomainError, badRequest, conflict, notFound } from '../errors.ts';
import { invalidFile } from './file-errors.ts';
import type { Db, FilesTable } from '../storage/schema.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { FileStore } from './file-store.ts';
import { cleanFileName, kindFromName, parseFile, requireKind } from './parse-file.ts';
import type { FileRecord, LibraryView, ParsedPlate, PlateInfo } from './types.ts';

export interface LibraryLimits {
  maxUploadBytes: number;
  maxZipEntryBytes: number;
  maxZipRatio: number;
}

export interface ListQuery {
  search?: string;
  sort?: 'name' | 'uploadedAt' | 'size';
  order?: 'asc' | 'desc';
}

/** What meta_json holds. */
interface StoredMeta {
  plates: ParsedPlate[];
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
  /** sha256 → the import in progress, so two uploads of the same bytes become one record. */
  readonly #importing = new Map<string, Promise<unknown>>();
  #ready: Promise<void> | null = null;

  constructor(opts: { db: Db; dataDir: string; bus: EventBus; clock: Clock; logger: Logger; limits: LibraryLimits }) {
    this.#db = opts.db;
    this.#bus = opts.bus;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#limits = opts.limits;
    this.#dataDir = path.resolve(opts.dataDir);
    this.store = new FileStore(this.#dataDir);
  }

  /** Once, before the first import: clear half-received uploads and unrecorded stored dirs. */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await this.store.init();
      const rows = await this.#db.selectFrom('files').select('sha256').execute();
      const removed = await this.store.sweep(new Set(rows.map((r) => r.sha256)));
      if (removed.length) this.#logger.warn({ removed }, 'removed stored files that had no record');
    })();
    return this.#ready;
  }

  /**
   * Stores and parses an upload. `created` is false when the same bytes were already in the
   * library: the existing record is returned unchanged (its name is kept).
   */
  async importStream(name: string, stream: Readable): Promise<{ file: FileRecord; created: boolean }> {
    let cleanName: string;
    let kind: ReturnType<typeof requireKind>;
    try {
      cleanName = cleanFileName(name);
      kind = requireKind(cleanName);
    } catch (err) {
      stream.resume(); // drain, so the request can finish and the refusal be read
      throw err;
    }
    await this.#init();
    const incoming = await this.store.receive(stream, this.#limits.maxUploadBytes);
    try {
      // Same bytes uploading at the same time: wait for the first, then find its record.
      for (let pending = this.#importing.get(incoming.sha256); pending; pending = this.#importing.get(incoming.sha256)) {
        await pending.catch(() => {});
      }
      // No await between the check above and the set below: the map entry is the lock.
      const work = (async () => {
        const existing = await this.#findBySha(incoming.sha256);
        if (existing) return { file: existing, created: false };
        return { file: await this.#storeNew(cleanName, kind, incoming), created: true };
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

  async #storeNew(
    name: string,
    kind: ReturnType<typeof requireKind>,
    incoming: Awaited<ReturnType<FileStore['receive']>>,
  ): Promise<FileRecord> {
    const parsed = await parseFile(incoming.path, kind.kind, {
      limits: { maxEntryBytes: this.#limits.maxZipEntryBytes, maxRatio: this.#limits.maxZipRatio },
      thumbnailDir: incoming.dir,
    }).catch((err: unknown) => {
      if (err instanceof DomainError) throw err;
      // Whatever else a malformed file trips over is still the file's fault, not the server's.
      this.#logger.warn({ err, name }, 'unexpected error while parsing an upload');
      throw invalidFile(`the file could not be read: ${(err as Error)?.message ?? String(err)}`);
    });
    if (parsed.kind !== '3mf') for (const p of parsed.plates) p.gcodeMd5 ??= incoming.md5.toUpperCase();
    const storedPath = await this.store.commit(incoming, storedExt(parsed.kind));
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
      meta_json: JSON.stringify({ plates: parsed.plates, slicer: parsed.slicer, notes: parsed.notes } satisfies StoredMeta),
      uploaded_at: new Date(this.#clock.now()).toISOString(),
    };
    try {
      await this.#db.insertInto('files').values(row).execute();
    } catch (err) {
      await this.store.remove(incoming.sha256);
      throw err;
    }
    for (const note of parsed.notes) this.#logger.info({ fileId: row.id, name }, note);
    this.#bus.emit('file.added', { fileId: row.id, name });
    return toRecord(row);
  }

  /** Imports a file already on disk (tests, demo data); the source is copied, not moved. */
  importPath(name: string, filePath: string): Promise<{ file: FileRecord; created: boolean }> {
    return this.importStream(name, fs.createReadStream(filePath));
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
