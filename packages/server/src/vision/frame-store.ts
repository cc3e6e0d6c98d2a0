/**
 * Camera frames on disk (`<dataDir>/vision/frames/<id>.jpg`) with a row each in `vision_frames`.
 * Retention keeps at most `maxFrames` frames and `maxBytes` bytes of ordinary frames (oldest go
 * first); frames marked kept (the one behind an AI pause or warning) are exempt, up to their own
 * `maxKeptFrames`. Every frame is stored as JPEG, longest side at most `maxSide` pixels.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Metadata } from 'sharp';
import { loadSharp } from '../util/sharp-lazy.ts';
import { DomainError } from '../errors.ts';
import type { Db } from '../storage/schema.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';

export interface FrameLimits {
  maxFrames: number;
  maxBytes: number;
  maxKeptFrames: number;
  /** Longest side of a stored frame in pixels; larger frames are scaled down (Obico caps at 1296). */
  maxSide: number;
  /** Encoded images over this size are refused before decoding. */
  maxInputBytes: number;
}

export const defaultFrameLimits: FrameLimits = {
  maxFrames: 2000,
  maxBytes: 512 * 1024 * 1024,
  maxKeptFrames: 500,
  maxSide: 1920,
  maxInputBytes: 16 * 1024 * 1024,
};

export interface StoredFrame {
  id: string;
  printerId: string | null;
  /** ISO time the frame was taken. */
  at: string;
  bytes: number;
  width: number;
  height: number;
}

const ID = /^f_[0-9a-z]+_[0-9a-f]{12}$/;

/** Decodes the header, re-encodes when needed; refuses what is not an image. */
export async function normaliseImage(
  input: Buffer,
  limits: FrameLimits,
): Promise<{ jpeg: Buffer; width: number; height: number }> {
  if (input.length > limits.maxInputBytes) {
    throw new DomainError(
      'too_large',
      'image_too_large',
      `image of ${input.length} bytes is over the ${limits.maxInputBytes}-byte limit`,
    );
  }
  let meta: Metadata;
  try {
    // 40 Mpx caps the memory a hostile image header can make the decoder reserve.
    meta = await (await loadSharp())(input, { limitInputPixels: 40_000_000 }).metadata();
  } catch (err) {
    throw new DomainError('invalid', 'not_an_image', `not a readable image: ${(err as Error).message}`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!width || !height) throw new DomainError('invalid', 'not_an_image', 'image has no size');
  if (meta.format === 'jpeg' && Math.max(width, height) <= limits.maxSide) return { jpeg: input, width, height };
  try {
    const { data, info } = await (await loadSharp())(input, { limitInputPixels: 40_000_000 })
      .rotate()
      .resize({ width: limits.maxSide, height: limits.maxSide, fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 85 })
      .toBuffer({ resolveWithObject: true });
    return { jpeg: data, width: info.width, height: info.height };
  } catch (err) {
    throw new DomainError('invalid', 'not_an_image', `image cannot be decoded: ${(err as Error).message}`);
  }
}

export class FrameStore {
  readonly dir: string;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly limits: FrameLimits;
  #pruning: Promise<void> | null = null;
  #again: Promise<void> | null = null;

  constructor(opts: { db: Db; dataDir: string; clock: Clock; logger: Logger; limits?: Partial<FrameLimits> }) {
    this.#db = opts.db;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.limits = { ...defaultFrameLimits, ...(opts.limits ?? {}) };
    this.dir = path.join(opts.dataDir, 'vision', 'frames');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  #file(id: string): string {
    return path.join(this.dir, `${id}.jpg`);
  }

  /** Stores an image (any format sharp reads) as a JPEG frame. */
  async save(image: Buffer, printerId: string | null, at?: number): Promise<StoredFrame & { jpeg: Buffer }> {
    const { jpeg, width, height } = await normaliseImage(image, this.limits);
    const when = at ?? this.#clock.now();
    const id = `f_${when.toString(36)}_${crypto.randomBytes(6).toString('hex')}`;
    await fs.promises.writeFile(this.#file(id), jpeg);
    const row = {
      id,
      printer_id: printerId,
      at: new Date(when).toISOString(),
      bytes: jpeg.length,
      width,
      height,
      kept: 0,
    };
    await this.#db.insertInto('vision_frames').values(row).execute();
    void this.prune();
    return { id, printerId, at: row.at, bytes: jpeg.length, width, height, jpeg };
  }

  async get(id: string): Promise<{ frame: StoredFrame; jpeg: Buffer } | null> {
    if (!ID.test(id)) return null;
    const row = await this.#db.selectFrom('vision_frames').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    try {
      const jpeg = await fs.promises.readFile(this.#file(id));
      return {
        frame: {
          id,
          printerId: row.printer_id,
          at: row.at,
          bytes: row.bytes,
          width: row.width ?? 0,
          height: row.height ?? 0,
        },
        jpeg,
      };
    } catch {
      return null;
    }
  }

  /** Exempts a frame from retention (it explains an AI pause or warning). */
  async keep(id: string): Promise<void> {
    await this.#db.updateTable('vision_frames').set({ kept: 1 }).where('id', '=', id).execute();
  }

  /**
   * Applies the retention limits. One run at a time; a call during a run is answered by one more
   * run after it, so frames saved meanwhile are counted.
   */
  prune(): Promise<void> {
    if (this.#pruning) {
      this.#again ??= this.#pruning.then(() => {
        this.#again = null;
        return this.prune();
      });
      return this.#again;
    }
    this.#pruning = this.#prune()
      .catch((err) => this.#logger.warn({ err }, 'frame retention failed'))
      .finally(() => {
        this.#pruning = null;
      });
    return this.#pruning;
  }

  async #prune(): Promise<void> {
    const { maxFrames, maxBytes, maxKeptFrames } = this.limits;
    for (const kept of [0, 1]) {
      const rows = await this.#db
        .selectFrom('vision_frames')
        .select(['id', 'bytes'])
        .where('kept', '=', kept)
        .orderBy('at', 'desc')
        .orderBy('id', 'desc')
        .execute();
      let count = 0;
      let bytes = 0;
      const drop: string[] = [];
      for (const r of rows) {
        count++;
        bytes += Number(r.bytes);
        const over = kept ? count > maxKeptFrames : count > maxFrames || bytes > maxBytes;
        if (over) drop.push(r.id);
      }
      for (let i = 0; i < drop.length; i += 200) {
        const batch = drop.slice(i, i + 200);
        await this.#db.deleteFrom('vision_frames').where('id', 'in', batch).execute();
        await Promise.all(batch.map((id) => fs.promises.rm(this.#file(id), { force: true })));
      }
    }
  }

  /** Frames and bytes on disk (for tests and the settings page). */
  async usage(): Promise<{ frames: number; bytes: number; kept: number }> {
    const rows = await this.#db.selectFrom('vision_frames').select(['bytes', 'kept']).execute();
    return {
      frames: rows.length,
      bytes: rows.reduce((s, r) => s + Number(r.bytes), 0),
      kept: rows.filter((r) => r.kept === 1).length,
    };
  }
}
