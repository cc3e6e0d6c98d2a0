import QOI from 'qoijs';

/**
 * Thumbnails as a parser finds them, before they are trusted: the bytes of an encoded picture
 * (PNG, JPG) or the pixels of a QOI picture decoded with qoijs (libvips has no QOI loader). They
 * cross from the parse worker to the main thread, where thumbnail-png.ts re-encodes them through
 * sharp; what does not decode there is dropped, so only real pictures are ever served.
 */
export type ThumbnailSource =
  | { format: 'png' | 'jpg'; data: Uint8Array }
  | { format: 'raw'; width: number; height: number; channels: 3 | 4; data: Uint8Array };

/** Largest thumbnail accepted, in pixels (2048 × 2048; slicers write at most about 600 × 600). */
export const MAX_THUMBNAIL_PIXELS = 2048 * 2048;
/** Largest encoded thumbnail accepted, in bytes. */
export const MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024;

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);
const QOI_MAGIC = Buffer.from('qoif', 'latin1');

export function isPng(buf: Buffer): boolean {
  return buf.length > PNG_MAGIC.length && buf.subarray(0, PNG_MAGIC.length).equals(PNG_MAGIC);
}

/**
 * A QOI picture decoded to pixels, or null when it is not a sane QOI picture. The 14-byte header
 * (magic, big-endian width and height) is checked first so a hostile header cannot make the
 * decoder allocate gigabytes.
 */
export function decodeQoi(buf: Buffer): ThumbnailSource | null {
  if (buf.length < 22 || !buf.subarray(0, 4).equals(QOI_MAGIC)) return null;
  const width = buf.readUInt32BE(4);
  const height = buf.readUInt32BE(8);
  if (width === 0 || height === 0 || width * height > MAX_THUMBNAIL_PIXELS) return null;
  try {
    const img = QOI.decode(buf.buffer, buf.byteOffset, buf.byteLength, 4);
    return { format: 'raw', width: img.width, height: img.height, channels: 4, data: img.data };
  } catch {
    return null;
  }
}

/** A thumbnail from its bytes as the container labelled them; null for formats we cannot show. */
export function thumbnailSource(buf: Buffer, label: 'png' | 'jpg' | 'qoi'): ThumbnailSource | null {
  if (buf.length === 0 || buf.length > MAX_THUMBNAIL_BYTES) return null;
  // Trust the bytes over the label (a slicer plugin may mislabel), but only among formats we know.
  if (buf.subarray(0, 4).equals(QOI_MAGIC)) return decodeQoi(buf);
  if (isPng(buf)) return { format: 'png', data: buf };
  if (buf.subarray(0, 3).equals(JPG_MAGIC)) return { format: 'jpg', data: buf };
  return label === 'qoi' ? decodeQoi(buf) : null;
}

/** One base64 thumbnail block found in G-code comments. */
export interface EmbeddedThumbnail {
  format: 'png' | 'jpg' | 'qoi';
  width: number;
  height: number;
  data: Buffer;
}

/**
 * Every complete base64 thumbnail block in G-code comments, largest first:
 *   `; thumbnail begin WxH LEN` (PNG: PrusaSlicer, OrcaSlicer, Cura plugins),
 *   `; thumbnail_PNG begin …`, `; thumbnail_JPG begin …`, `; thumbnail_QOI begin …` (PrusaSlicer ≥ 2.5).
 * A line scanner, not one big regex: a hostile file full of unterminated blocks stays linear.
 */
export function embeddedThumbnails(text: string): EmbeddedThumbnail[] {
  const begin = /^; thumbnail(?:_(PNG|JPG|QOI))? begin (\d+)x(\d+) \d+\s*$/;
  const end = /^; thumbnail(?:_(?:PNG|JPG|QOI))? end\s*$/;
  const found: EmbeddedThumbnail[] = [];
  let current: { format: EmbeddedThumbnail['format']; width: number; height: number; parts: string[]; size: number } | null = null;
  for (const line of text.split('\n')) {
    const b = begin.exec(line);
    if (b) {
      const format = (b[1]?.toLowerCase() ?? 'png') as EmbeddedThumbnail['format'];
      current = { format, width: Number(b[2]), height: Number(b[3]), parts: [], size: 0 };
      continue;
    }
    if (!current) continue;
    if (end.test(line)) {
      found.push({ format: current.format, width: current.width, height: current.height, data: Buffer.from(current.parts.join(''), 'base64') });
      current = null;
    } else if (line.startsWith(';')) {
      const part = line.slice(1).trim();
      current.size += part.length;
      if (current.size > (MAX_THUMBNAIL_BYTES * 4) / 3 + 4) current = null; // larger than any thumbnail we keep
      else current.parts.push(part);
    } else {
      current = null; // a block is comments only; anything else means it was cut
    }
  }
  // Largest first; PNG first among equals (no conversion needed).
  return found.sort((a, b) => b.width * b.height - a.width * a.height || Number(b.format === 'png') - Number(a.format === 'png'));
}

/** The embedded thumbnails as sources, best first, dropping those that are not pictures. */
export function embeddedThumbnailSources(text: string, max = 3): ThumbnailSource[] {
  const out: ThumbnailSource[] = [];
  for (const t of embeddedThumbnails(text)) {
    const src = thumbnailSource(t.data, t.format);
    if (src) out.push(src);
    if (out.length >= max) break;
  }
  return out;
}
