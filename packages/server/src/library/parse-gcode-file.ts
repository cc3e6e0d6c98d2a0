import fs from 'node:fs/promises';
import path from 'node:path';
import { invalidFile } from './file-errors.ts';
import { extractEmbeddedPng, parseGcodeComments } from './parse-gcode-header.ts';
import { printerModelFromName } from './printer-models.ts';
import type { FilamentUse, ParseResult } from './types.ts';

/** Bytes read from each end of a plain G-code file: headers, thumbnails and end-of-file summaries live there. */
export const GCODE_HEAD_BYTES = 1024 * 1024;
export const GCODE_TAIL_BYTES = 256 * 1024;

async function readRange(fh: fs.FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Head and tail of a file (the middle, where the moves are, is never read). */
export async function readHeadAndTail(file: string): Promise<{ head: Buffer; tail: Buffer; size: number }> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = await readRange(fh, 0, Math.min(size, GCODE_HEAD_BYTES));
    const tailStart = Math.max(head.length, size - GCODE_TAIL_BYTES);
    const tail = size > tailStart ? await readRange(fh, tailStart, size - tailStart) : Buffer.alloc(0);
    return { head, tail, size };
  } finally {
    await fh.close();
  }
}

/** Filaments from the `filament_type`/`filament_colour` lists (PrusaSlicer, OrcaSlicer); grams only for one. */
export function filamentsFromLists(types: string[], colors: string[], totalGrams: number | null): FilamentUse[] {
  const n = Math.max(types.length, colors.length);
  const out: FilamentUse[] = [];
  for (let k = 0; k < n; k++) {
    out.push({
      id: k + 1,
      type: types[k] || 'unknown',
      color: normaliseColor(colors[k] ?? ''),
      grams: n === 1 ? totalGrams : null,
    });
  }
  return out;
}

/** `#RRGGBB` upper case; alpha (`#RRGGBBAA`) dropped; anything else kept as written. */
export function normaliseColor(raw: string): string {
  const m = /^#?([0-9a-f]{6})(?:[0-9a-f]{2})?$/i.exec(raw.trim());
  return m ? `#${m[1].toUpperCase()}` : raw.trim();
}

/**
 * A plain text `.gcode` from any slicer: one plate. Reads only the first MiB and the last 256 KiB;
 * an embedded PNG thumbnail is written to `thumbnailDir/plate_1.png`.
 */
export async function parsePlainGcode(file: string, opts: { thumbnailDir: string }): Promise<ParseResult> {
  const { head, tail, size } = await readHeadAndTail(file);
  if (size === 0) throw invalidFile('the G-code file is empty');
  if (head.subarray(0, 4).toString('latin1') === 'PK\x03\x04') {
    throw invalidFile('this file is a zip archive, not text G-code: name it .gcode.3mf if it is a plate sliced file');
  }
  if (head.subarray(0, 4).toString('latin1') === 'GCDE') {
    throw invalidFile('this file is binary G-code: name it .bgcode');
  }
  if (head.subarray(0, 64 * 1024).includes(0)) throw invalidFile('not a text G-code file (binary data found)');
  const text = head.toString('utf8') + '\n' + tail.toString('utf8');
  const info = parseGcodeComments(text);
  let thumbnailFile: string | null = null;
  const png = extractEmbeddedPng(head.toString('latin1')) ?? extractEmbeddedPng(tail.toString('latin1'));
  if (png) {
    thumbnailFile = 'plate_1.png';
    await fs.writeFile(path.join(opts.thumbnailDir, thumbnailFile), png);
  }
  const printerModel = printerModelFromName(info.printerModel);
  const filaments = filamentsFromLists(info.filamentTypes, info.filamentColors, info.weightGrams);
  if (filaments.length === 1 && info.filamentMeters !== null) filaments[0].meters = info.filamentMeters;
  return {
    kind: 'gcode',
    printerModel,
    nozzleDiameter: info.nozzleDiameter,
    slicer: info.slicer,
    notes: [],
    plates: [
      {
        index: 1,
        gcodePath: null,
        gcodeMd5: null,
        estimatedSeconds: info.estimatedSeconds,
        weightGrams: info.weightGrams,
        filaments,
        layerCount: info.layerCount,
        printerModel,
        nozzleDiameter: info.nozzleDiameter,
        thumbnailFile,
      },
    ],
  };
}
