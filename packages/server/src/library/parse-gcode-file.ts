import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { invalidFile } from './file-errors.ts';
import { filamentsUsed } from './filaments.ts';
import { GcodeScanner, type GcodeScanResult, layerCountFromMarkers } from './gcode-scan.ts';
import { parseGcodeComments } from './parse-gcode-header.ts';
import { printerModelFromName } from './printer-models.ts';
import { embeddedThumbnailSources } from './thumbnail-sources.ts';
import type { ParseResult } from './types.ts';

/** Bytes read from each end of a plain G-code file: headers, thumbnails and end-of-file summaries live there. */
export const GCODE_HEAD_BYTES = 1024 * 1024;
export const GCODE_TAIL_BYTES = 256 * 1024;

async function readRange(fh: fsp.FileHandle, start: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Head and tail of a file (the middle, where the moves are, is read only by scanGcodeFile). */
export async function readHeadAndTail(file: string): Promise<{ head: Buffer; tail: Buffer; size: number }> {
  const fh = await fsp.open(file, 'r');
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

/** One streaming pass over the whole file (constant memory): layer markers and tools used. */
export async function scanGcodeFile(file: string): Promise<GcodeScanResult> {
  const scanner = new GcodeScanner();
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) scanner.feed(chunk as Buffer);
  return scanner.finish();
}

const USAGE_KEYS = ['filament used [g]', 'filament used [mm]', 'filament used [cm3]', 'total filament weight [g]', 'total filament length [mm]', 'Filament used'];

/**
 * A plain text `.gcode` from any slicer: one plate. Reads the first MiB and the last 256 KiB; the
 * whole file is streamed once more only when those leave the layer count (PrusaSlicer writes only
 * `;LAYER_CHANGE` markers) or the filaments used (no per-filament usage, several configured) open.
 */
export async function parsePlainGcode(file: string): Promise<ParseResult> {
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
  const thumbnails = embeddedThumbnailSources(head.toString('latin1'));
  if (thumbnails.length === 0) thumbnails.push(...embeddedThumbnailSources(tail.toString('latin1')));

  const configured = Math.max(info.filamentTypes.length, info.filamentColors.length);
  const hasUsage = USAGE_KEYS.some((k) => info.settings.has(k));
  const scan = info.layerCount === null || (!hasUsage && configured > 1) ? await scanGcodeFile(file) : null;
  const layerCount = info.layerCount ?? (scan ? layerCountFromMarkers(scan.layerMarkers) : null);
  const filaments = filamentsUsed({
    settings: info.settings,
    curaTypes: info.curaTypes,
    totalGrams: info.weightGrams,
    toolsUsed: scan?.tools ?? null,
  });
  const printerModel = printerModelFromName(info.printerModel);
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
        layerCount,
        printerModel,
        nozzleDiameter: info.nozzleDiameter,
        thumbnails,
      },
    ],
  };
}
