/**
 * The name a file gets on the printer's storage. Bambu printers keep uploads on a FAT-formatted
 * MicroSD card (or FAT-like internal storage); vsFTPd answers `553 Could not create file.` for a
 * name FAT cannot hold (bambu-protocol.md §1.11, case bambu-file-name-chars). So the stored name is
 * always one FAT accepts, whatever the library's display name is:
 *
 * - no `\ / : * ? " < > |` and no control characters (they become `_`), no leading/trailing dots
 *   or spaces, at most MAX_STORAGE_NAME characters;
 * - unique per content: the first 8 hex digits of the file's MD5 go into the name, so two different
 *   files uploaded as "cube.gcode.3mf" never overwrite each other on the printer;
 * - the same for every copy of the same file (a pure function of display name and MD5), so
 *   "upload once, print many" still finds the file already there.
 */

/** Longest stored name, in characters (FAT allows 255; printer screens show far less). */
export const MAX_STORAGE_NAME = 96;

const FAT_FORBIDDEN = /[\\/:*?"<>|\u0000-\u001f\u007f]/g;

function splitExtension(name: string): { stem: string; ext: string } {
  const m = /\.(gcode\.3mf|3mf|gcode)$/i.exec(name);
  if (!m) return { stem: name, ext: '' };
  return { stem: name.slice(0, m.index), ext: `.${m[1].toLowerCase()}` };
}

/** A FAT-safe, content-unique, deterministic storage name for `displayName` (see the header). */
export function storageFileName(displayName: string, md5: string): string {
  const { stem, ext } = splitExtension(displayName.trim());
  const tag = (md5.replace(/[^0-9a-f]/gi, '').slice(0, 8) || '00000000').toLowerCase();
  let clean = stem
    .replace(FAT_FORBIDDEN, '_')
    .replace(/\s+/g, ' ')
    .replace(/^[\s.]+|[\s.]+$/g, '');
  const room = MAX_STORAGE_NAME - ext.length - tag.length - 1;
  const chars = Array.from(clean); // by code point: never split a surrogate pair
  if (chars.length > room) clean = chars.slice(0, room).join('').replace(/[\s.]+$/, '');
  return `${clean || 'print'}-${tag}${ext}`;
}

/** True when FAT can store this name (what the simulated printer's FTPS checks too). */
export function isFatSafeName(name: string): boolean {
  FAT_FORBIDDEN.lastIndex = 0;
  return name.length > 0 && name.length <= 255 && !FAT_FORBIDDEN.test(name) && !/[\s.]$/.test(name);
}
