import sharp from 'sharp';
import { MAX_THUMBNAIL_PIXELS, type ThumbnailSource } from './thumbnail-sources.ts';

/**
 * Re-encodes a thumbnail as PNG through sharp (libvips), on the main thread: sharp works off the
 * event loop in libuv's pool, and is kept out of the parse workers because ending a worker while
 * libvips runs in it can bring the whole process down (sharp issue 2263). Every picture we serve
 * went through here, so a file with a corrupt or fake "PNG" gets no thumbnail rather than serving
 * bytes that are not a picture. Returns null for anything that does not decode.
 */
export async function thumbnailToPng(src: ThumbnailSource): Promise<Buffer | null> {
  try {
    const input =
      src.format === 'raw'
        ? sharp(src.data, { raw: { width: src.width, height: src.height, channels: src.channels } })
        : sharp(src.data, { limitInputPixels: MAX_THUMBNAIL_PIXELS, failOn: 'error', animated: false });
    const png = await input.png({ compressionLevel: 9 }).toBuffer();
    return png.length > 0 ? png : null;
  } catch {
    return null;
  }
}

/** The first source that decodes, as PNG; null when none does. */
export async function firstPng(sources: ThumbnailSource[]): Promise<Buffer | null> {
  for (const s of sources) {
    const png = await thumbnailToPng(s);
    if (png) return png;
  }
  return null;
}
