import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { finished, type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DomainError, tooLarge } from '../errors.ts';

/**
 * The content-addressed store on disk:
 *   <dataDir>/files/<sha256>/content<ext>   the bytes, exactly as uploaded
 *   <dataDir>/files/<sha256>/plate_N.png    thumbnails extracted at parse time
 *   <dataDir>/files/.incoming/<uuid>/       an upload being received and parsed
 * An incoming dir becomes a stored dir by one rename, so a half-written upload is never visible.
 */
export interface IncomingFile {
  dir: string;
  path: string;
  size: number;
  sha256: string;
  md5: string;
}

/** Free space of the filesystem holding `path` (fs.promises.statfs, or a stand-in in tests). */
export type StatFs = (path: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;

/** Free space is checked again after every this many bytes received. */
const SPACE_CHECK_EVERY = 8 * 1024 * 1024;
const MiB = 1024 * 1024;

/** 507 `disk_full`: the upload would eat into the free space the server keeps for itself. */
export function diskFull(freeBytes: number, reserveBytes: number, neededBytes: number | null): DomainError {
  const need = neededBytes === null ? '' : ` for ${Math.ceil(neededBytes / MiB)} MiB`;
  return new DomainError(
    'no_space',
    'disk_full',
    `not enough free disk space${need}: ${Math.floor(freeBytes / MiB)} MiB free, and the server keeps ` +
      `${Math.ceil(reserveBytes / MiB)} MiB free for its database and logs (RWC_UPLOAD_RESERVE_BYTES); free some space or delete library files`,
    { freeBytes, reserveBytes, neededBytes },
  );
}

/** True for the errors a full filesystem (or quota) gives. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL';
}

class HashingLimiter extends Transform {
  size = 0;
  readonly sha256 = createHash('sha256');
  readonly md5 = createHash('md5');
  #nextCheck = SPACE_CHECK_EVERY;
  constructor(
    private readonly maxBytes: number,
    private readonly checkSpace: (received: number) => Promise<void>,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      cb(tooLarge(`the file is larger than the upload limit of ${this.maxBytes} bytes (RWC_MAX_UPLOAD_BYTES)`, 'too_large', { limit: this.maxBytes }));
      return;
    }
    this.sha256.update(chunk);
    this.md5.update(chunk);
    if (this.size < this.#nextCheck) {
      cb(null, chunk);
      return;
    }
    this.#nextCheck = this.size + SPACE_CHECK_EVERY;
    this.checkSpace(this.size).then(
      () => cb(null, chunk),
      (err: Error) => cb(err),
    );
  }
}

export interface FileStoreOptions {
  /** Bytes of free space uploads never use (the database, logs and thumbnails need room). */
  reserveBytes?: number;
  statfs?: StatFs;
  /**
   * Several server processes share the data dir (scale-out): crash leftovers are removed only once
   * old enough that they cannot be another live process's work in progress.
   */
  shared?: boolean;
}

/** An incoming upload untouched this long is a crash's leftover (any process's), removed at start. */
const STALE_INCOMING_MS = 60 * 60_000;
/** A stored dir without a record is swept only once older than this (see sweep()). */
const UNRECORDED_GRACE_MS = 10 * 60_000;

/** Latest mtime of a dir and its direct entries (an upload being written keeps touching its file). */
async function newestMtime(dir: string): Promise<number> {
  let newest = (await fsp.stat(dir).catch(() => null))?.mtimeMs ?? 0;
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    newest = Math.max(newest, (await fsp.stat(path.join(dir, name)).catch(() => null))?.mtimeMs ?? 0);
  }
  return newest;
}

async function hasSize(file: string, size: number): Promise<boolean> {
  return (await fsp.stat(file).catch(() => null))?.size === size;
}

export class FileStore {
  readonly root: string;
  readonly incomingRoot: string;
  readonly reserveBytes: number;
  readonly shared: boolean;
  readonly #statfs: StatFs;

  constructor(
    readonly dataDir: string,
    opts: FileStoreOptions = {},
  ) {
    this.root = path.join(dataDir, 'files');
    this.incomingRoot = path.join(this.root, '.incoming');
    this.reserveBytes = opts.reserveBytes ?? 0;
    this.shared = opts.shared ?? false;
    this.#statfs = opts.statfs ?? ((p) => fsp.statfs(p));
  }

  /** Free bytes for an unprivileged writer on the store's filesystem. */
  async freeBytes(): Promise<number> {
    const s = await this.#statfs(this.root);
    return Number(s.bavail) * Number(s.bsize);
  }

  /**
   * 507 when storing `moreBytes` (null: unknown, only the reserve is checked) would leave less than
   * the reserve free.
   */
  async requireSpace(moreBytes: number | null): Promise<void> {
    const free = await this.freeBytes();
    if (free - (moreBytes ?? 0) < this.reserveBytes) throw diskFull(free, this.reserveBytes, moreBytes);
  }

  /**
   * Removes uploads left behind by a crash (called once at start, before any upload). On a shared
   * data dir (scale-out) only those untouched for an hour: a younger one may be another live
   * process's upload in progress.
   */
  async init(now = Date.now()): Promise<void> {
    if (!this.shared) await fsp.rm(this.incomingRoot, { recursive: true, force: true });
    await fsp.mkdir(this.incomingRoot, { recursive: true });
    for (const name of await fsp.readdir(this.incomingRoot).catch(() => [] as string[])) {
      const dir = path.join(this.incomingRoot, name);
      if ((await newestMtime(dir)) < now - STALE_INCOMING_MS) await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Streams `stream` into a fresh incoming dir, hashing as it goes; never holds the file in memory.
   * Over `maxBytes` (or a multipart stream truncated at its own limit): 413. Less free space than
   * `expectedBytes` (the request's Content-Length, when known) plus the reserve, before or while
   * receiving, or a full disk: 507 `disk_full`. On any refusal the dir is removed.
   */
  async receive(stream: Readable, maxBytes: number, expectedBytes: number | null = null): Promise<IncomingFile> {
    const dir = path.join(this.incomingRoot, randomUUID());
    const file = path.join(dir, 'upload');
    const limiter = new HashingLimiter(maxBytes, async () => this.requireSpace(null));
    try {
      await this.requireSpace(expectedBytes);
      await fsp.mkdir(dir, { recursive: true });
      // Piped by hand, not by pipeline(): on a refusal the source must not be destroyed but
      // drained (below), or a multipart parser waiting on it holds the request open forever.
      const written = pipeline(limiter, fs.createWriteStream(file, { flags: 'wx' }));
      // An error or an early close of the source (a request cut short) ends the write with it.
      finished(stream, (err) => {
        if (err) limiter.destroy(err);
      });
      stream.pipe(limiter);
      await written;
      if ((stream as Readable & { truncated?: boolean }).truncated) {
        throw tooLarge(`the file is larger than the upload limit of ${maxBytes} bytes (RWC_MAX_UPLOAD_BYTES)`);
      }
    } catch (err) {
      stream.unpipe(limiter);
      stream.resume(); // discard the rest, so the request ends and the refusal can be read
      await this.discard(dir);
      if (isNoSpace(err)) throw diskFull(await this.freeBytes().catch(() => 0), this.reserveBytes, expectedBytes);
      if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
        throw tooLarge(`the file is larger than the upload limit of ${maxBytes} bytes (RWC_MAX_UPLOAD_BYTES)`);
      }
      throw err;
    }
    return {
      dir,
      path: file,
      size: limiter.size,
      sha256: limiter.sha256.digest('hex'),
      md5: limiter.md5.digest('hex'),
    };
  }

  async discard(incomingDir: string): Promise<void> {
    await fsp.rm(incomingDir, { recursive: true, force: true });
  }

  /** Moves a parsed incoming dir into place; returns the stored file path relative to the data dir. */
  async commit(incoming: IncomingFile, ext: string): Promise<string> {
    await fsp.rename(incoming.path, path.join(incoming.dir, `content${ext}`));
    const target = this.dirFor(incoming.sha256);
    const stored = path.join(target, `content${ext}`);
    // The same bytes already in place (another process stored them a moment ago, or a crash left
    // them without a record): keep that dir — replacing it would pull it from under a reader.
    // Only a dir whose content is missing or short (a removal cut off by a crash) is replaced.
    if (await hasSize(stored, incoming.size)) return path.relative(this.dataDir, stored);
    await fsp.rm(target, { recursive: true, force: true });
    try {
      await fsp.rename(incoming.dir, target);
    } catch (err) {
      // Lost a race with another process renaming the same bytes into place: theirs is as good.
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !(await hasSize(stored, incoming.size))) throw err;
    }
    return path.relative(this.dataDir, stored);
  }

  /** Removes stored dirs no record points to (a crash between the move into place and the insert). */
  async sweep(keep: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    const names = await fsp.readdir(this.root).catch(() => [] as string[]);
    for (const name of names) {
      if (!/^[0-9a-f]{64}$/.test(name) || keep.has(name)) continue;
      // A young dir may be another process's import between its move into place and its insert.
      if (this.shared && (await newestMtime(path.join(this.root, name))) > Date.now() - UNRECORDED_GRACE_MS) continue;
      await fsp.rm(path.join(this.root, name), { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }

  dirFor(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.root, sha256);
  }

  async remove(sha256: string): Promise<void> {
    await fsp.rm(this.dirFor(sha256), { recursive: true, force: true });
  }
}
