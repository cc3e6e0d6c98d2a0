/**
 * A tiny baseline JPEG encoder for flat-coloured 8×8 blocks (DC coefficients only, YCbCr 4:4:4).
 * Enough to draw a camera picture that shows the printer state (background colour per
 * gcode_state, the part growing with progress, a progress bar) as a valid JFIF any decoder reads.
 */

export type Rgb = readonly [number, number, number];

/** Standard luminance DC table (ITU T.81 K.3); categories 0..11. */
const DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/** One AC symbol only: EOB (0x00), code "0" — every block has no AC energy. */
const AC_BITS = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const AC_VALS = [0];
const QUANT = 16;

function canonicalCodes(bits: number[], vals: number[]): Map<number, { code: number; len: number }> {
  const out = new Map<number, { code: number; len: number }>();
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < bits[len - 1]; i++) out.set(vals[k++], { code: code++, len });
    code <<= 1;
  }
  return out;
}

const DC_CODES = canonicalCodes(DC_BITS, DC_VALS);

class BitWriter {
  readonly bytes: number[] = [];
  #acc = 0;
  #n = 0;

  write(value: number, len: number): void {
    for (let i = len - 1; i >= 0; i--) {
      this.#acc = (this.#acc << 1) | ((value >> i) & 1);
      if (++this.#n === 8) this.#flushByte();
    }
  }

  #flushByte(): void {
    this.bytes.push(this.#acc);
    if (this.#acc === 0xff) this.bytes.push(0x00); // byte stuffing
    this.#acc = 0;
    this.#n = 0;
  }

  finish(): void {
    while (this.#n !== 0) this.write(1, 1); // pad with 1-bits
  }
}

function segment(marker: number, body: number[]): number[] {
  const len = body.length + 2;
  return [0xff, marker, len >> 8, len & 0xff, ...body];
}

function ycbcr([r, g, b]: Rgb): [number, number, number] {
  return [
    0.299 * r + 0.587 * g + 0.114 * b,
    128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
    128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
  ];
}

/**
 * Encodes a `width`×`height` picture (multiples of 8) where `blockColour(bx, by)` gives the
 * colour of each 8×8 block.
 */
export function encodeBlockJpeg(width: number, height: number, blockColour: (bx: number, by: number) => Rgb): Buffer {
  if (width % 8 || height % 8) throw new Error('width and height must be multiples of 8');
  const header: number[] = [0xff, 0xd8];
  header.push(...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]));
  header.push(...segment(0xdb, [0x00, ...new Array(64).fill(QUANT)]));
  header.push(
    ...segment(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]),
  );
  header.push(...segment(0xc4, [0x00, ...DC_BITS, ...DC_VALS]));
  header.push(...segment(0xc4, [0x10, ...AC_BITS, ...AC_VALS]));
  header.push(...segment(0xda, [3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]));

  const bits = new BitWriter();
  const prev = [0, 0, 0];
  for (let by = 0; by < height / 8; by++) {
    for (let bx = 0; bx < width / 8; bx++) {
      const comps = ycbcr(blockColour(bx, by));
      for (let c = 0; c < 3; c++) {
        // DC of a flat block = 8 × (value − 128); quantised by QUANT.
        const dc = Math.round((8 * (Math.max(0, Math.min(255, comps[c])) - 128)) / QUANT);
        const diff = dc - prev[c];
        prev[c] = dc;
        const mag = Math.abs(diff);
        const cat = mag === 0 ? 0 : 32 - Math.clz32(mag);
        const code = DC_CODES.get(cat)!;
        bits.write(code.code, code.len);
        if (cat > 0) bits.write(diff < 0 ? diff + (1 << cat) - 1 : diff, cat);
        bits.write(0, 1); // EOB
      }
    }
  }
  bits.finish();
  return Buffer.from([...header, ...bits.bytes, 0xff, 0xd9]);
}

const STATE_COLOURS: Record<string, Rgb> = {
  IDLE: [60, 60, 70],
  PREPARE: [40, 70, 120],
  RUNNING: [30, 90, 50],
  PAUSE: [150, 120, 30],
  FINISH: [40, 40, 110],
  FAILED: [140, 30, 30],
};

/** A camera picture of the printer: state colour, a bed, the part growing with progress, a progress bar. */
export function printerSnapshotJpeg(state: string, percent: number, width = 1280, height = 720): Buffer {
  const bg = STATE_COLOURS[state] ?? STATE_COLOURS.IDLE;
  const cols = width / 8;
  const rows = height / 8;
  const bedRow = Math.floor(rows * 0.75);
  const partRows = Math.round((Math.max(0, Math.min(100, percent)) / 100) * rows * 0.4);
  const barCols = Math.round((Math.max(0, Math.min(100, percent)) / 100) * cols);
  return encodeBlockJpeg(width, height, (bx, by) => {
    if (by >= rows - 3) return bx < barCols ? [240, 240, 240] : [20, 20, 20];
    if (by === bedRow || by === bedRow + 1) return [90, 90, 90];
    const inPart = bx >= cols * 0.42 && bx < cols * 0.58 && by < bedRow && by >= bedRow - partRows;
    if (inPart) return [0, 174, 66]; // Bambu green PLA
    return bg;
  });
}
