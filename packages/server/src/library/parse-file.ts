import fs from 'node:fs/promises';
import { invalidFile } from './file-errors.ts';
import { parse3mf } from './parse-3mf.ts';
import { parseBgcode } from './parse-bgcode.ts';
import { parsePlainGcode } from './parse-gcode-file.ts';
import type { FileKind, ParseResult } from './types.ts';
import type { ZipLimits } from './zip-safety.ts';

/** Extensions accepted, longest first (docs/octoprint-moonraker-obico.md §2.2 recommendation, minus .ufp). */
const EXTENSIONS: Array<[string, FileKind]> = [
  ['.gcode.3mf', '3mf'],
  ['.3mf', '3mf'],
  ['.bgcode', 'bgcode'],
  ['.gcode', 'gcode'],
  ['.gco', 'gcode'],
  ['.g', 'gcode'],
];

export const ACCEPTED_EXTENSIONS = EXTENSIONS.map(([ext]) => ext);

/** The kind a file name says, and its extension; null for anything we do not print. */
export function kindFromName(name: string): { kind: FileKind; ext: string } | null {
  const lower = name.toLowerCase();
  for (const [ext, kind] of EXTENSIONS) if (lower.endsWith(ext) && lower.length > ext.length) return { kind, ext };
  return null;
}

/**
 * A display name from an uploaded file name: the last path segment (slicers and browsers may send
 * `C:\dir\x.gcode` or `dir/x.gcode`), without control characters, at most 255 characters.
 */
export function cleanFileName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? '';
  const name = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (!name || name === '.' || name === '..') throw invalidFile('the upload has no usable file name');
  if (name.length > 255) throw invalidFile('the file name is longer than 255 characters');
  return name;
}

export function requireKind(name: string): { kind: FileKind; ext: string } {
  const k = kindFromName(name);
  if (!k) {
    throw invalidFile(
      `unsupported file type "${name}": upload a plate sliced .gcode.3mf, a .3mf with G-code inside, a .gcode or a .bgcode`,
    );
  }
  return k;
}

/**
 * Parses a stored file. Reads `file` and writes nothing; thumbnails come back as candidates for
 * the caller to check and store. Throws a DomainError (400) for anything that is not a printable
 * file. Runs in a parse worker (parse-pool.ts), never on the server's event loop.
 */
export async function parseFile(file: string, kind: FileKind, opts: { limits: ZipLimits }): Promise<ParseResult> {
  if (kind === '3mf') {
    const fh = await fs.open(file, 'r');
    const magic = Buffer.alloc(4);
    try {
      await fh.read(magic, 0, 4, 0);
    } finally {
      await fh.close();
    }
    if (magic.toString('latin1') !== 'PK\x03\x04') {
      throw invalidFile('not a zip archive: a .gcode.3mf / .3mf file must be a zip (the upload is corrupt or mislabelled)');
    }
    return parse3mf(file, opts);
  }
  if (kind === 'bgcode') return parseBgcode(file);
  return parsePlainGcode(file);
}
