import fs from 'node:fs/promises';
import zlib from 'node:zlib';
import { invalidFile } from './file-errors.ts';
import { filamentsUsed, splitList } from './filaments.ts';
import { parseDuration } from './parse-gcode-header.ts';
import { printerModelFromName } from './printer-models.ts';
import { MAX_THUMBNAIL_BYTES, type ThumbnailSource, thumbnailSource } from './thumbnail-sources.ts';
import type { ParseResult } from './types.ts';

/**
 * Prusa binary G-code (`.bgcode`, libbgcode format v1). Only the cheap part is read: block headers
 * are walked from the start until the first G-code block, metadata blocks that are stored or
 * deflated are read as `key=value` lines, and the thumbnails (PNG, JPG or QOI) are kept, largest
 * first. Heatshrink-compressed metadata is skipped, and so is the layer count: the G-code blocks
 * are heatshrink/MeatPack encoded and PrusaSlicer's metadata has no layer count. Filament colours
 * come from `filament_colour` (`extruder_colour` is the extruder's display colour). Layout:
 *   file header: "GCDE", u32 version, u16 checksum type (0 none, 1 CRC32)
 *   block: u16 type, u16 compression, u32 uncompressed size, [u32 compressed size if compressed],
 *          parameters (u16 encoding; thumbnails: u16 format, u16 width, u16 height), data, [u32 crc]
 *   types: 0 file metadata, 1 G-code, 2 slicer metadata, 3 printer metadata, 4 print metadata, 5 thumbnail
 *   thumbnail formats: 0 PNG, 1 JPG, 2 QOI
 */
const BLOCK_GCODE = 1;
const BLOCK_THUMBNAIL = 5;
const MAX_METADATA_BYTES = 4 * 1024 * 1024;
const MAX_BLOCKS = 256;

const THUMB_FORMATS = ['png', 'jpg', 'qoi'] as const;

export async function parseBgcode(file: string): Promise<ParseResult> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const read = async (pos: number, len: number) => {
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (bytesRead < len) throw invalidFile('binary G-code is truncated');
      return buf;
    };
    if (size < 10) throw invalidFile('not a binary G-code file (too short)');
    const header = await read(0, 10);
    if (header.subarray(0, 4).toString('latin1') !== 'GCDE') throw invalidFile('not a binary G-code file (no GCDE magic)');
    const checksumBytes = header.readUInt16LE(8) === 1 ? 4 : 0;
    const meta = new Map<string, string>();
    const thumbs: Array<{ area: number; src: ThumbnailSource }> = [];
    let pos = 10;
    for (let n = 0; n < MAX_BLOCKS && pos + 8 <= size; n++) {
      const bh = await read(pos, 8);
      const type = bh.readUInt16LE(0);
      const compression = bh.readUInt16LE(2);
      const uncompressed = bh.readUInt32LE(4);
      let headerLen = 8;
      let dataLen = uncompressed;
      if (compression !== 0) {
        dataLen = (await read(pos + 8, 4)).readUInt32LE(0);
        headerLen = 12;
      }
      if (type === BLOCK_GCODE) break;
      const paramLen = type === BLOCK_THUMBNAIL ? 6 : 2;
      const params = await read(pos + headerLen, paramLen);
      const dataPos = pos + headerLen + paramLen;
      if (dataPos + dataLen > size) throw invalidFile('binary G-code is truncated (a block runs past the end)');
      const format = type === BLOCK_THUMBNAIL ? THUMB_FORMATS[params.readUInt16LE(0)] : undefined;
      if (type === BLOCK_THUMBNAIL && format && compression === 0 && dataLen <= MAX_THUMBNAIL_BYTES && thumbs.length < 8) {
        const src = thumbnailSource(await read(dataPos, dataLen), format);
        if (src) thumbs.push({ area: params.readUInt16LE(2) * params.readUInt16LE(4), src });
      } else if (type !== BLOCK_THUMBNAIL && dataLen <= MAX_METADATA_BYTES && (compression === 0 || compression === 1)) {
        let data = await read(dataPos, dataLen);
        if (compression === 1) {
          try {
            data = zlib.inflateSync(data, { maxOutputLength: MAX_METADATA_BYTES });
          } catch {
            data = Buffer.alloc(0);
          }
        }
        for (const line of data.toString('utf8').split('\n')) {
          const eq = line.indexOf('=');
          if (eq > 0) {
            const key = line.slice(0, eq).trim();
            if (!meta.has(key)) meta.set(key, line.slice(eq + 1).trim());
          }
        }
      }
      pos = dataPos + dataLen + checksumBytes;
    }
    const thumbnails = thumbs.sort((a, b) => b.area - a.area).map((t) => t.src);
    const num = (k: string) => {
      const v = Number.parseFloat(meta.get(k) ?? '');
      return Number.isFinite(v) ? v : null;
    };
    const time = meta.get('estimated printing time (normal mode)');
    const printerModel = printerModelFromName(meta.get('printer_model'));
    const perSlot = splitList(meta.get('filament used [g]')).map(Number.parseFloat).filter(Number.isFinite);
    const grams =
      num('total filament used [g]') ?? (perSlot.length ? Math.round(perSlot.reduce((a, b) => a + b, 0) * 1000) / 1000 : null);
    return {
      kind: 'bgcode',
      printerModel,
      nozzleDiameter: num('nozzle_diameter'),
      slicer: meta.get('Producer') ?? meta.get('producer') ?? null,
      notes: [],
      plates: [
        {
          index: 1,
          gcodePath: null,
          gcodeMd5: null,
          estimatedSeconds: time ? parseDuration(time) : null,
          weightGrams: grams,
          filaments: filamentsUsed({ settings: meta, totalGrams: grams }),
          layerCount: null,
          printerModel,
          nozzleDiameter: num('nozzle_diameter'),
          thumbnails,
        },
      ],
    };
  } finally {
    await fh.close();
  }
}
