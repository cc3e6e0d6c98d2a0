/**
 * Reads what the printer needs from a `.gcode.3mf` on its storage: MD5 of the whole file, the
 * plate's slicer estimate (`slice_info.config` → `<metadata key="prediction">`, seconds) and its
 * layer count (`; total layer number: N` in the plate G-code header). A tiny synchronous ZIP
 * reader is enough: entries are located through the central directory and inflated with zlib.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { constants, inflateRawSync } from 'node:zlib';
import type { FileInspection } from './commands.ts';

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  localHeaderOffset: number;
}

function listEntries(buf: Buffer): ZipEntry[] {
  // End of central directory: signature 0x06054b50 within the last 64 KB + 22 bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65_557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return [];
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count && p + 46 <= buf.length && buf.readUInt32LE(p) === 0x02014b50; i++) {
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    entries.push({
      name: buf.toString('utf8', p + 46, p + 46 + nameLen),
      method: buf.readUInt16LE(p + 10),
      compressedSize: buf.readUInt32LE(p + 20),
      localHeaderOffset: buf.readUInt32LE(p + 42),
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Entry content; `maxCompressed` limits how much is inflated (enough for a G-code header). */
function readEntry(buf: Buffer, e: ZipEntry, maxCompressed = Infinity): string {
  const lh = e.localHeaderOffset;
  const start = lh + 30 + buf.readUInt16LE(lh + 26) + buf.readUInt16LE(lh + 28);
  const data = buf.subarray(start, start + Math.min(e.compressedSize, maxCompressed));
  if (e.method === 0) return data.toString('utf8');
  return inflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
}

export function plateInfoFrom3mf(buf: Buffer, plate: number): { predictionSeconds?: number; totalLayers?: number } {
  const out: { predictionSeconds?: number; totalLayers?: number } = {};
  try {
    const entries = listEntries(buf);
    const slice = entries.find((e) => e.name === 'Metadata/slice_info.config');
    if (slice) {
      const xml = readEntry(buf, slice);
      for (const block of xml.split('<plate>').slice(1)) {
        const index = /key="index"\s+value="(\d+)"/.exec(block);
        const prediction = /key="prediction"\s+value="(\d+(?:\.\d+)?)"/.exec(block);
        if (index && Number(index[1]) === plate && prediction) out.predictionSeconds = Number(prediction[1]);
      }
    }
    const gcode = entries.find((e) => e.name === `Metadata/plate_${plate}.gcode`);
    if (gcode) {
      const head = readEntry(buf, gcode, 16_384);
      const layers = /;\s*total layer number:\s*(\d+)/.exec(head);
      if (layers) out.totalLayers = Number(layers[1]);
    }
  } catch {
    // Not a readable 3mf: the caller falls back to its defaults.
  }
  return out;
}

/** Inspects `name` under the storage root (the simulated SD card). Never escapes the root. */
export function inspectStorageFile(root: string, name: string, plate: number): FileInspection {
  const rootAbs = resolve(root);
  const full = resolve(join(rootAbs, name));
  if (full !== rootAbs && !full.startsWith(rootAbs + sep)) return { exists: false, md5: '' };
  if (!existsSync(full) || !statSync(full).isFile()) return { exists: false, md5: '' };
  const buf = readFileSync(full);
  const md5 = createHash('md5').update(buf).digest('hex').toUpperCase();
  return { exists: true, md5, ...plateInfoFrom3mf(buf, plate) };
}
