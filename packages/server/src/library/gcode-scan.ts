import { createHash } from 'node:crypto';

/**
 * One streaming pass over G-code bytes: the MD5 of everything fed (what a Bambu printer checks),
 * the layer markers each slicer writes, and the tools the print selects. Constant memory: chunks
 * are searched with Buffer.indexOf and never kept, only the start of an unfinished line is carried
 * to the next chunk (markers are always at the start of a line).
 *
 * Markers counted (one per layer, at the start of a line):
 *   PrusaSlicer / SuperSlicer / OrcaSlicer  `;LAYER_CHANGE`
 *   Bambu Studio                            `; CHANGE_LAYER`
 *   Cura (and ideaMaker)                    `;LAYER:<n>`
 *   Simplify3D                              `; layer <n>, Z = …`
 * Tools: a line `T<n>` (Marlin tool select; Bambu writes `M620 S<n>A` around it, same `T<n>`).
 */
export interface GcodeScanResult {
  /** Upper-case hex MD5 of every byte fed (Bambu writes `plate_N.gcode.md5` in upper case). */
  md5: string;
  bytes: number;
  /** Layer count by marker family; 0 when the family's marker never appears. */
  layerMarkers: { prusa: number; bambu: number; cura: number; simplify3d: number };
  /** Tool numbers selected by `T<n>` lines, ascending. */
  tools: number[];
}

/** Longest start of an unfinished line kept across chunks: longer than any marker we look for. */
const CARRY_MAX = 64;
const NL = 0x0a;
const CR = 0x0d;

const enc = (s: string) => Buffer.from(s, 'latin1');
/** Every marker is a comment line: one search for line starts with ';', then a look at the bytes. */
const COMMENT = enc('\n;');
const LAYER_CHANGE = enc('LAYER_CHANGE');
const LAYER_COLON = enc('LAYER:');
const CHANGE_LAYER = enc(' CHANGE_LAYER');
const S3D_LAYER = enc(' layer ');
const TOOL = enc('\nT');

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

/** Whether `region` holds `word` at `at` (a region always ends with a newline, so reads stay inside). */
function has(region: Buffer, at: number, word: Buffer): boolean {
  if (at + word.length > region.length) return false;
  for (let i = 0; i < word.length; i++) if (region[at + i] !== word[i]) return false;
  return true;
}

/** A line end at `at` (LF or CRLF). */
function eol(region: Buffer, at: number): boolean {
  return region[at] === NL || (region[at] === CR && region[at + 1] === NL);
}

/** Incremental scanner: feed() chunks in order, then finish(). */
export class GcodeScanner {
  readonly #md5 = createHash('md5');
  #bytes = 0;
  /** The start of the line the last chunk ended in (at most CARRY_MAX bytes). */
  #carry: Buffer = Buffer.alloc(0);
  #carryTruncated = false;
  readonly #layers = { prusa: 0, bambu: 0, cura: 0, simplify3d: 0 };
  readonly #tools = new Set<number>();
  readonly #wantTools: boolean;

  constructor(opts: { tools?: boolean } = {}) {
    this.#wantTools = opts.tools ?? true;
  }

  feed(chunk: Buffer): void {
    this.#md5.update(chunk);
    this.#bytes += chunk.length;
    const first = chunk.indexOf(NL);
    if (first === -1) {
      this.#extendCarry(chunk);
      return;
    }
    // The line that began in an earlier chunk, completed by this one (led by a virtual line start).
    const head = chunk.subarray(0, first + 1);
    const lead = this.#carryTruncated ? Buffer.alloc(0) : Buffer.concat([Buffer.from([NL]), this.#carry, head]);
    if (lead.length) this.#scan(lead);
    const last = chunk.lastIndexOf(NL);
    // Whole lines of this chunk: from the newline that ended the first line to the last newline.
    if (last > first) this.#scan(chunk.subarray(first, last + 1));
    this.#carry = Buffer.alloc(0);
    this.#carryTruncated = false;
    this.#extendCarry(chunk.subarray(last + 1));
  }

  finish(): GcodeScanResult {
    if (this.#carry.length && !this.#carryTruncated) this.#scan(Buffer.concat([Buffer.from([NL]), this.#carry, Buffer.from([NL])]));
    return {
      md5: this.#md5.digest('hex').toUpperCase(),
      bytes: this.#bytes,
      layerMarkers: { ...this.#layers },
      tools: [...this.#tools].sort((a, b) => a - b),
    };
  }

  #extendCarry(part: Buffer): void {
    if (this.#carryTruncated || part.length === 0) return;
    if (this.#carry.length + part.length > CARRY_MAX) {
      // A line this long is no marker line; only whether it started one mattered, and it did not.
      const keep = Buffer.concat([this.#carry, part.subarray(0, CARRY_MAX - this.#carry.length)]);
      this.#carry = keep;
      this.#carryTruncated = !startsWithMarker(keep);
      return;
    }
    this.#carry = Buffer.concat([this.#carry, part]);
  }

  /** `region` starts with a newline (a line start) and ends with one. */
  #scan(region: Buffer): void {
    const layers = this.#layers;
    for (let at = region.indexOf(COMMENT); at !== -1; at = region.indexOf(COMMENT, at + 2)) {
      const p = at + 2;
      const c = region[p];
      if (c === 0x4c /* L */) {
        if (has(region, p, LAYER_CHANGE) && eol(region, p + LAYER_CHANGE.length)) layers.prusa++;
        else if (has(region, p, LAYER_COLON)) {
          const q = p + LAYER_COLON.length;
          if (isDigit(region[q]) || (region[q] === 0x2d && isDigit(region[q + 1]))) layers.cura++;
        }
      } else if (c === 0x20 /* space */) {
        if (has(region, p, CHANGE_LAYER) && eol(region, p + CHANGE_LAYER.length)) layers.bambu++;
        else if (has(region, p, S3D_LAYER) && isDigit(region[p + S3D_LAYER.length])) layers.simplify3d++;
      }
    }
    if (!this.#wantTools) return;
    for (let at = region.indexOf(TOOL); at !== -1; at = region.indexOf(TOOL, at + 1)) {
      let p = at + TOOL.length;
      let n = 0;
      let digits = 0;
      while (isDigit(region[p]) && digits < 3) {
        n = n * 10 + (region[p++]! - 0x30);
        digits++;
      }
      const end = region[p];
      if (digits > 0 && (end === NL || end === CR || end === 0x20 || end === 0x09 || end === 0x3b)) this.#tools.add(n);
    }
  }
}

function startsWithMarker(line: Buffer): boolean {
  const s = line.toString('latin1');
  return /^(;LAYER|; CHANGE_LAYER|; layer \d|T\d)/.test(s);
}

/**
 * The layer count the markers give, by the family that appears (a file is written by one
 * slicer): PrusaSlicer/Orca `;LAYER_CHANGE`, Bambu `; CHANGE_LAYER`, Cura `;LAYER:n`, Simplify3D.
 */
export function layerCountFromMarkers(m: GcodeScanResult['layerMarkers']): number | null {
  for (const n of [m.prusa, m.bambu, m.cura, m.simplify3d]) if (n > 0) return n;
  return null;
}
