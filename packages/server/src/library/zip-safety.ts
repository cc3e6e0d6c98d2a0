import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { isDomainError } from '../errors.ts';
import { invalidFile } from './file-errors.ts';

/**
 * A zip opened defensively: the central directory is read and every entry is checked before any
 * byte is inflated, and entries are inflated one at a time, never past their declared size.
 * Hostile archives (path traversal, symlinks, duplicates, bombs, encryption, bad names) are refused
 * with invalidFile(); nothing is ever extracted by entry name.
 */
export interface ZipLimits {
  /** Largest uncompressed size of one entry (config.maxZipEntryBytes). */
  maxEntryBytes: number;
  /** Largest uncompressed/compressed ratio of one entry (config.maxZipRatio). */
  maxRatio: number;
  /** Most entries in one archive. */
  maxEntries?: number;
  /** Largest sum of declared uncompressed sizes (default 4 × maxEntryBytes): bounds the work on one upload. */
  maxTotalBytes?: number;
}

export interface ZipEntryInfo {
  name: string;
  compressedSize: number;
  uncompressedSize: number;
  compressionMethod: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Throws invalidFile when an entry name could escape a directory or is otherwise unusable. */
export function checkEntryName(name: string): void {
  if (name.length === 0) throw invalidFile('zip entry with an empty name');
  if (name.includes('\0')) throw invalidFile('zip entry name contains a NUL byte');
  if (name.includes('\\')) throw invalidFile(`zip entry name "${name}" contains a backslash`);
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw invalidFile(`zip entry "${name}" has an absolute path`);
  if (name.split('/').includes('..')) throw invalidFile(`zip entry "${name}" points outside the archive ("..")`);
}

function decodeName(raw: Buffer, flags: number): string {
  const isUtf8Flag = (flags & 0x800) !== 0;
  const ascii = raw.every((b) => b < 0x80);
  if (ascii) return raw.toString('latin1');
  if (!isUtf8Flag) throw invalidFile('zip entry name is not UTF-8 (non-ASCII name without the UTF-8 flag)');
  try {
    return utf8.decode(raw);
  } catch {
    throw invalidFile('zip entry name is not valid UTF-8');
  }
}

function checkEntry(entry: yauzl.Entry, name: string, limits: ZipLimits): void {
  checkEntryName(name);
  const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
  if ((unixMode & S_IFMT) === S_IFLNK) throw invalidFile(`zip entry "${name}" is a symbolic link`);
  if (entry.generalPurposeBitFlag & 0x1) throw invalidFile(`zip entry "${name}" is encrypted`);
  if (name.endsWith('/')) return;
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw invalidFile(`zip entry "${name}" uses unsupported compression method ${entry.compressionMethod}`);
  }
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    throw invalidFile(
      `zip entry "${name}" declares ${entry.uncompressedSize} bytes uncompressed, over the limit of ${limits.maxEntryBytes}`,
    );
  }
  if (entry.uncompressedSize > 0) {
    const ratio = entry.uncompressedSize / Math.max(entry.compressedSize, 1);
    if (entry.compressedSize === 0 || ratio > limits.maxRatio) {
      throw invalidFile(
        `zip entry "${name}" has an absurd compression ratio (${Math.round(ratio)}:1, limit ${limits.maxRatio}:1)`,
      );
    }
  }
}

function zipError(err: unknown): Error {
  if (isDomainError(err)) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return invalidFile(`not a valid zip archive (truncated or corrupt): ${msg}`);
}

export class SafeZip {
  readonly entries = new Map<string, ZipEntryInfo>();
  readonly #raw = new Map<string, yauzl.Entry>();
  readonly #zip: yauzl.ZipFile;

  private constructor(zip: yauzl.ZipFile) {
    this.#zip = zip;
  }

  /** Opens `path` and validates the whole central directory; throws invalidFile on anything hostile. */
  static async open(path: string, limits: ZipLimits): Promise<SafeZip> {
    const zipfile = await new Promise<yauzl.ZipFile>((resolve, reject) => {
      yauzl.open(
        path,
        { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true },
        (err, zf) => (err || !zf ? reject(zipError(err)) : resolve(zf)),
      );
    });
    const safe = new SafeZip(zipfile);
    const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (zipfile.entryCount > maxEntries) {
      zipfile.close();
      throw invalidFile(`zip archive has ${zipfile.entryCount} entries, more than the ${maxEntries} allowed`);
    }
    try {
      await new Promise<void>((resolve, reject) => {
        zipfile.on('error', (err) => reject(zipError(err)));
        zipfile.on('end', () => resolve());
        zipfile.on('entry', (entry: yauzl.Entry) => {
          try {
            const name = decodeName(entry.fileName as unknown as Buffer, entry.generalPurposeBitFlag);
            checkEntry(entry, name, limits);
            if (safe.entries.has(name) || safe.#raw.has(name)) {
              throw invalidFile(`zip archive holds "${name}" twice (duplicate entry names)`);
            }
            if (!name.endsWith('/')) {
              safe.entries.set(name, {
                name,
                compressedSize: entry.compressedSize,
                uncompressedSize: entry.uncompressedSize,
                compressionMethod: entry.compressionMethod,
              });
            }
            safe.#raw.set(name, entry);
            zipfile.readEntry();
          } catch (err) {
            reject(err);
          }
        });
        zipfile.readEntry();
      });
      safe.#checkArchive(limits);
    } catch (err) {
      zipfile.close();
      throw err;
    }
    return safe;
  }

  /**
   * Whole-archive checks: the declared total stays under budget, and no two entries share bytes
   * (overlapping entries are how "better zip bombs" multiply one compressed kernel many times).
   */
  #checkArchive(limits: ZipLimits): void {
    const maxTotal = limits.maxTotalBytes ?? 4 * limits.maxEntryBytes;
    let total = 0;
    for (const e of this.entries.values()) total += e.uncompressedSize;
    if (total > maxTotal) {
      throw invalidFile(`zip archive declares ${total} bytes uncompressed in total, over the limit of ${maxTotal}`);
    }
    const spans = [...this.#raw.entries()]
      .map(([name, e]) => ({
        name,
        start: e.relativeOffsetOfLocalHeader,
        end: e.relativeOffsetOfLocalHeader + 30 + e.compressedSize,
      }))
      .sort((a, b) => a.start - b.start);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i].start < spans[i - 1].end) {
        throw invalidFile(
          `zip entries "${spans[i - 1].name}" and "${spans[i].name}" overlap (zip bomb or corrupt archive)`,
        );
      }
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  close(): void {
    if (this.#zip.isOpen) this.#zip.close();
  }

  /**
   * Yields the inflated bytes of one entry, at most `maxBytes` (and never more than the declared
   * size: a header that lies about the size is refused, not trusted). Stopping early (break) closes
   * the streams.
   */
  async *chunks(name: string, opts: { maxBytes?: number } = {}): AsyncGenerator<Buffer> {
    const info = this.entries.get(name);
    const entry = this.#raw.get(name);
    if (!info || !entry) throw invalidFile(`zip entry "${name}" not found`);
    if (opts.maxBytes !== undefined && info.uncompressedSize > opts.maxBytes) {
      throw invalidFile(
        `zip entry "${name}" is ${info.uncompressedSize} bytes, more than the ${opts.maxBytes} expected`,
      );
    }
    const raw = await new Promise<Readable>((resolve, reject) => {
      this.#zip.openReadStream(entry, { decodeFileData: false }, (err, s) =>
        err || !s ? reject(zipError(err)) : resolve(s),
      );
    });
    let out: Readable = raw;
    if (info.compressionMethod === 8) {
      const inflate = zlib.createInflateRaw({ chunkSize: 256 * 1024 });
      raw.on('error', (err) => inflate.destroy(zipError(err)));
      raw.pipe(inflate);
      out = inflate;
    }
    let total = 0;
    try {
      for await (const chunk of out as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > info.uncompressedSize) {
          throw invalidFile(
            `zip entry "${name}" inflates past its declared size of ${info.uncompressedSize} bytes (zip bomb or corrupt header)`,
          );
        }
        yield chunk;
      }
    } catch (err) {
      throw isDomainError(err)
        ? err
        : invalidFile(`zip entry "${name}" is corrupt: ${(err as Error).message}`);
    } finally {
      raw.unpipe();
      raw.destroy();
      out.destroy();
    }
    if (total < info.uncompressedSize) {
      throw invalidFile(`zip entry "${name}" is truncated: ${total} of ${info.uncompressedSize} bytes`);
    }
  }

  /** The whole entry in memory; only for small metadata entries, bounded by `maxBytes`. */
  async readBuffer(name: string, maxBytes: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this.chunks(name, { maxBytes })) parts.push(c);
    return Buffer.concat(parts);
  }

  async readText(name: string, maxBytes: number): Promise<string> {
    return (await this.readBuffer(name, maxBytes)).toString('utf8');
  }
}
