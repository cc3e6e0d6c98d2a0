/**
 * What this server already put on a printer's storage, per printer.
 *
 * Kept as a JSON file in the driver's own ctx.dataDir rather than in the `printer_uploads` table:
 * DriverContext hands a driver no database handle, dataDir is documented as the folder for exactly
 * this kind of record, and it keeps the driver usable without the storage layer. The interface
 * lets a caller inject a table-backed store instead (BambuDriverOptions.uploadStore).
 * The file also remembers the per-printer FTPS data-channel mode (PROT C fallback, pitfall 22).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface UploadRecord {
  fileName: string;
  size: number;
  /** Uppercase hex MD5 of the uploaded bytes. */
  md5: string;
  uploadedAt: string;
}

export interface UploadRecordStore {
  get(fileName: string): Promise<UploadRecord | null>;
  put(record: UploadRecord): Promise<void>;
  /** Whether uploads to this printer use a clear data channel (`PROT C`). */
  getClearDataChannel(): Promise<boolean>;
  setClearDataChannel(on: boolean): Promise<void>;
}

type FileShape = { uploads: Record<string, UploadRecord>; clearDataChannel: boolean };

export class JsonFileUploadStore implements UploadRecordStore {
  readonly #path: string;
  #cache: FileShape | null = null;

  constructor(dataDir: string) {
    this.#path = join(dataDir, 'bambu-uploads.json');
  }

  async #load(): Promise<FileShape> {
    if (this.#cache) return this.#cache;
    try {
      const parsed = JSON.parse(await readFile(this.#path, 'utf8')) as Partial<FileShape>;
      this.#cache = { uploads: parsed.uploads ?? {}, clearDataChannel: parsed.clearDataChannel === true };
    } catch {
      this.#cache = { uploads: {}, clearDataChannel: false };
    }
    return this.#cache;
  }

  async #save(data: FileShape): Promise<void> {
    this.#cache = data;
    const dir = join(this.#path, '..');
    await mkdir(dir, { recursive: true });
    const tmp = `${this.#path}.tmp`;
    await writeFile(tmp, JSON.stringify(data, null, 2));
    await rename(tmp, this.#path);
  }

  async get(fileName: string): Promise<UploadRecord | null> {
    return (await this.#load()).uploads[fileName] ?? null;
  }

  async put(record: UploadRecord): Promise<void> {
    const data = await this.#load();
    await this.#save({ ...data, uploads: { ...data.uploads, [record.fileName]: record } });
  }

  async getClearDataChannel(): Promise<boolean> {
    return (await this.#load()).clearDataChannel;
  }

  async setClearDataChannel(on: boolean): Promise<void> {
    const data = await this.#load();
    await this.#save({ ...data, clearDataChannel: on });
  }
}
