import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tooLarge } from '../errors.ts';

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

class HashingLimiter extends Transform {
  size = 0;
  readonly sha256 = createHash('sha256');
  readonly md5 = createHash('md5');
  constructor(private readonly maxBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      cb(tooLarge(`the file is larger than the upload limit of ${this.maxBytes} bytes (RWC_MAX_UPLOAD_BYTES)`));
      return;
    }
    this.sha256.update(chunk);
    this.md5.update(chunk);
    cb(null, chunk);
  }
}

export class FileStore {
  readonly root: string;
  readonly incomingRoot: string;

  constructor(readonly dataDir: string) {
    this.root = path.join(dataDir, 'files');
    this.incomingRoot = path.join(this.root, '.incoming');
  }

  /** Removes uploads left behind by a crash. */
  async init(): Promise<void> {
    await fsp.rm(this.incomingRoot, { recursive: true, force: true });
    await fsp.mkdir(this.incomingRoot, { recursive: true });
  }

  /**
   * Streams `stream` into a fresh incoming dir, hashing as it goes; never holds the file in memory.
   * Over `maxBytes` (or a multipart stream truncated at its own limit): 413, and the dir is removed.
   */
  async receive(stream: Readable, maxBytes: number): Promise<IncomingFile> {
    const dir = path.join(this.incomingRoot, randomUUID());
    await fsp.mkdir(dir, { recursive: true });
    const file = path.join(dir, 'upload');
    const limiter = new HashingLimiter(maxBytes);
    try {
      await pipeline(stream, limiter, fs.createWriteStream(file, { flags: 'wx' }));
      if ((stream as Readable & { truncated?: boolean }).truncated) {
        throw tooLarge(`the file is larger than the upload limit of ${maxBytes} bytes (RWC_MAX_UPLOAD_BYTES)`);
      }
    } catch (err) {
      await this.discard(dir);
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
    await fsp.rm(target, { recursive: true, force: true });
    await fsp.rename(incoming.dir, target);
    return path.relative(this.dataDir, path.join(target, `content${ext}`));
  }

  /** Removes stored dirs no record points to (a crash between the move into place and the insert). */
  async sweep(keep: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    const names = await fsp.readdir(this.root).catch(() => [] as string[]);
    for (const name of names) {
      if (!/^[0-9a-f]{64}$/.test(name) || keep.has(name)) continue;
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
