/**
 * Makes a job's file available on the printer's storage root, uploading only when needed:
 * the printer must already hold a file of that name and size (FTPS `SIZE`) AND our per-printer
 * record must say we uploaded exactly these bytes (same size and MD5). One upload per printer at a
 * time (a lock), a size-based deadline, progress events, and the A1 `PROT C` fallback.
 */
import { DriverError, type StartJobRequest } from '../driver.ts';
import type { Clock } from '../../util/clock.ts';
import { type FtpsTarget, remoteSize, UploadDeadlineError, uploadDeadlineMs, uploadOnce, withFtps } from './ftps.ts';
import type { UploadRecordStore } from './upload-records.ts';

export interface FileUploaderOptions {
  target: FtpsTarget;
  store: UploadRecordStore;
  clock: Clock;
  floorMs: number;
  minBytesPerSecond: number;
  log(kind: string, message: string, detail?: Record<string, unknown>): void;
}

export type UploadOutcome = 'skipped' | 'uploaded';

export class FileUploader {
  readonly #o: FileUploaderOptions;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(o: FileUploaderOptions) {
    this.#o = o;
  }

  /** Serialises uploads to this printer. */
  ensureOnPrinter(req: StartJobRequest): Promise<UploadOutcome> {
    const run = this.#lock.then(() => this.#ensure(req));
    this.#lock = run.catch(() => {});
    return run;
  }

  async #ensure(req: StartJobRequest): Promise<UploadOutcome> {
    const { store, target, clock } = this.#o;
    const name = req.fileName.replace(/^\/+/, '');
    const md5 = req.fileMd5.toUpperCase();
    const record = await store.get(name);
    const recorded = !!record && record.size === req.fileSize && record.md5.toUpperCase() === md5;
    const deadline = uploadDeadlineMs(req.fileSize, this.#o.floorMs, this.#o.minBytesPerSecond);
    const clear = await store.getClearDataChannel();
    try {
      return await withFtps<UploadOutcome>(target, clock, deadline, async (client) => {
        if (recorded && (await remoteSize(client, name)) === req.fileSize) {
          this.#o.log('upload.skipped', `${name} is already on the printer`, { fileName: name, size: req.fileSize });
          return 'skipped';
        }
        await this.#upload(client, req, name, clear);
        return 'uploaded';
      });
    } catch (err) {
      if (err instanceof UploadDeadlineError && !clear) return this.#afterHang(req, name);
      if (err instanceof DriverError) throw err;
      throw new DriverError('upload_failed', `FTPS upload of ${name} failed: ${(err as Error).message}`);
    }
  }

  async #upload(
    client: Parameters<Parameters<typeof withFtps>[3]>[0],
    req: StartJobRequest,
    name: string,
    clear: boolean,
  ) {
    const total = req.fileSize;
    let nextReport = 0;
    this.#o.log('upload.started', `uploading ${name} (${total} bytes)${clear ? ' with a clear data channel' : ''}`, {
      fileName: name,
      size: total,
    });
    const sentMd5 = await uploadOnce(client, {
      localPath: req.localPath,
      remoteName: name,
      size: total,
      clearDataChannel: clear,
      onProgress: (sent) => {
        req.onUploadProgress?.(sent, total);
        if (sent >= nextReport) {
          nextReport = sent + Math.max(1, Math.ceil(total / 4));
          this.#o.log('upload.progress', `${name}: ${sent}/${total} bytes`, { fileName: name, sent, total });
        }
      },
    });
    if (sentMd5 !== req.fileMd5.toUpperCase()) {
      throw new DriverError('file_changed', `the file on disk does not match its recorded MD5 (${name})`);
    }
    req.onUploadProgress?.(total, total);
    await this.#o.store.put({
      fileName: name,
      size: total,
      md5: sentMd5,
      uploadedAt: new Date(this.#o.clock.now()).toISOString(),
    });
    this.#o.log('upload.done', `${name} uploaded and verified (SIZE ${total})`, { fileName: name, size: total });
  }

  /**
   * The A1 data-channel hang: the bytes may all be there but `226` never came. From now on this
   * printer gets `PROT C`. If `SIZE` already matches, the file is complete; otherwise upload again
   * once over the clear data channel.
   */
  async #afterHang(req: StartJobRequest, name: string): Promise<UploadOutcome> {
    const { store, target, clock } = this.#o;
    await store.setClearDataChannel(true);
    this.#o.log('upload.prot_c', `no 226 from the printer for ${name}; using PROT C for this printer from now on`, {
      fileName: name,
    });
    const deadline = uploadDeadlineMs(req.fileSize, this.#o.floorMs, this.#o.minBytesPerSecond);
    try {
      return await withFtps<UploadOutcome>(target, clock, deadline, async (client) => {
        if ((await remoteSize(client, name)) === req.fileSize) {
          await store.put({
            fileName: name,
            size: req.fileSize,
            md5: req.fileMd5.toUpperCase(),
            uploadedAt: new Date(clock.now()).toISOString(),
          });
          this.#o.log('upload.done', `${name} is complete on the printer (SIZE ${req.fileSize})`, { fileName: name });
          return 'uploaded';
        }
        await this.#upload(client, req, name, true);
        return 'uploaded';
      });
    } catch (err) {
      if (err instanceof DriverError) throw err;
      throw new DriverError('upload_failed', `FTPS upload of ${name} failed: ${(err as Error).message}`);
    }
  }
}
