/**
 * What can be said about a JPEG without decoding it: its size from the SOF marker (ITU T.81 B.2.2)
 * and the byte entropy of its entropy-coded data (busy pictures compress worse). Enough for a demo
 * detector that behaves the same for the same frame; not a failure model.
 */
export interface JpegStats {
  width: number;
  height: number;
  /** Shannon entropy of the scan bytes, 0–8 bits per byte. */
  entropy: number;
}

export function jpegStats(jpeg: Uint8Array): JpegStats {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw Object.assign(new Error('not a JPEG (no SOI marker)'), { code: 'invalid_input' });
  let width = 0;
  let height = 0;
  let scanStart = -1;
  let i = 2;
  while (i + 4 <= jpeg.length) {
    if (jpeg[i] !== 0xff) {
      i++;
      continue;
    }
    const marker = jpeg[i + 1]!;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xff) {
      i += marker === 0xff ? 1 : 2;
      continue;
    }
    const len = (jpeg[i + 2]! << 8) | jpeg[i + 3]!;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc && i + 8 < jpeg.length) {
      height = (jpeg[i + 5]! << 8) | jpeg[i + 6]!;
      width = (jpeg[i + 7]! << 8) | jpeg[i + 8]!;
    }
    if (marker === 0xda) {
      scanStart = i + 2 + len;
      break;
    }
    i += 2 + len;
  }
  const counts = new Array<number>(256).fill(0);
  let n = 0;
  for (let k = Math.max(0, scanStart); k < jpeg.length - 2; k++) {
    counts[jpeg[k]!]!++;
    n++;
  }
  let entropy = 0;
  for (const c of counts) if (c) entropy -= (c / n) * Math.log2(c / n);
  return { width, height, entropy };
}
