import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { DomainError, isDomainError } from '../errors.ts';
import { SafeZip } from '../library/zip-safety.ts';

/** Limits on one robot project ZIP (config `robotMax*`, `maxZipRatio`). */
export interface ProjectZipLimits {
  maxFiles: number;
  maxUnpackedBytes: number;
  maxRatio: number;
  /** Longest entry name, characters (default 255). */
  maxPathLength?: number;
  /** Deepest folder nesting (default 32). */
  maxDepth?: number;
}

/** The entry files a project may have at its top level, in the order they are looked for. */
export const ENTRY_FILES = ['main.py', 'main.js', 'main.mjs', 'main.ts'] as const;
export type EntryFile = (typeof ENTRY_FILES)[number];

export interface ExtractedProject {
  entry: EntryFile;
  files: number;
  bytes: number;
  /** A single top-level folder that was stripped (`zip -r p.zip my_project/`), or null. */
  strippedFolder: string | null;
}

/** A project ZIP the server refuses: 400-like, `invalid_project`, with a message a user can act on. */
export function invalidProject(message: string): DomainError {
  return new DomainError('invalid', 'invalid_project', message);
}

const junk = (name: string) => name.startsWith('__MACOSX/') || name.endsWith('/.DS_Store') || name === '.DS_Store';

/**
 * Finds the project root inside the archive: the top level when it holds an entry file, else the one
 * folder everything sits in. Throws invalidProject when there is no entry file or more than one.
 */
export function locateEntry(names: string[]): { entry: EntryFile; prefix: string } {
  const at = (prefix: string) => ENTRY_FILES.filter((f) => names.includes(prefix + f));
  let prefix = '';
  let found = at(prefix);
  if (!found.length) {
    const tops = new Set(names.map((n) => n.split('/')[0]));
    const [only] = [...tops];
    if (tops.size === 1 && names.every((n) => n.startsWith(`${only}/`))) {
      prefix = `${only}/`;
      found = at(prefix);
    }
  }
  if (!found.length) {
    throw invalidProject(
      `the ZIP has no ${ENTRY_FILES.join(', ')} at its top level: zip the project's files (cd my_project && zip -r ../my_project.zip .)`,
    );
  }
  if (found.length > 1) throw invalidProject(`the ZIP has ${found.join(' and ')}; a project has exactly one entry file`);
  return { entry: found[0], prefix };
}

/**
 * Validates and extracts a project ZIP into `dest` (which must not exist yet). Refuses, before
 * writing anything: path traversal, absolute paths, symlinks, encrypted or duplicate entries
 * (SafeZip, shared with the file library), more than `maxFiles` files, more than `maxUnpackedBytes`
 * declared, an absurd compression ratio, overlapping entries (zip bombs), names over
 * `maxPathLength` or deeper than `maxDepth`. While inflating, an entry that grows past its declared
 * size is refused too. On any refusal `dest` is removed and an `invalid_project` error thrown.
 */
export async function extractProjectZip(zipPath: string, dest: string, limits: ProjectZipLimits): Promise<ExtractedProject> {
  const maxPath = limits.maxPathLength ?? 255;
  const maxDepth = limits.maxDepth ?? 32;
  let zip: SafeZip;
  try {
    zip = await SafeZip.open(zipPath, {
      maxEntryBytes: limits.maxUnpackedBytes,
      maxRatio: limits.maxRatio,
      maxEntries: limits.maxFiles,
      maxTotalBytes: limits.maxUnpackedBytes,
    });
  } catch (err) {
    throw asInvalidProject(err);
  }
  try {
    const names = [...zip.entries.keys()].filter((n) => !junk(n));
    for (const name of names) {
      if (name.length > maxPath) throw invalidProject(`"${name.slice(0, 60)}…" is a path of ${name.length} characters, over ${maxPath}`);
      if (name.split('/').length > maxDepth) throw invalidProject(`"${name}" is nested deeper than ${maxDepth} folders`);
    }
    const { entry, prefix } = locateEntry(names);
    const root = path.resolve(dest);
    fs.mkdirSync(root, { recursive: false });
    let bytes = 0;
    for (const name of names) {
      if (prefix && !name.startsWith(prefix)) continue;
      const rel = name.slice(prefix.length);
      if (!rel) continue;
      const target = path.resolve(root, rel);
      // SafeZip already refused ".." and absolute names; this is the belt to those braces.
      if (!target.startsWith(root + path.sep)) throw invalidProject(`zip entry "${name}" points outside the project`);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      await pipeline(Readable.from(zip.chunks(name)), fs.createWriteStream(target, { flags: 'wx', mode: 0o644 }));
      bytes += zip.entries.get(name)!.uncompressedSize;
    }
    return { entry, files: names.length, bytes, strippedFolder: prefix ? prefix.slice(0, -1) : null };
  } catch (err) {
    fs.rmSync(dest, { recursive: true, force: true });
    throw asInvalidProject(err);
  } finally {
    zip.close();
  }
}

function asInvalidProject(err: unknown): DomainError {
  if (isDomainError(err)) return err.code === 'invalid_project' ? err : invalidProject(err.message);
  return invalidProject(`the project ZIP could not be unpacked: ${(err as Error).message}`);
}

/** Lists a ZIP's project facts without extracting (used to check an HTTP upload at once). */
export async function inspectProjectZip(zipPath: string, limits: ProjectZipLimits): Promise<{ entry: EntryFile; files: number; bytes: number; requirements: string | null }> {
  let zip: SafeZip;
  try {
    zip = await SafeZip.open(zipPath, {
      maxEntryBytes: limits.maxUnpackedBytes,
      maxRatio: limits.maxRatio,
      maxEntries: limits.maxFiles,
      maxTotalBytes: limits.maxUnpackedBytes,
    });
  } catch (err) {
    throw asInvalidProject(err);
  }
  try {
    const names = [...zip.entries.keys()].filter((n) => !junk(n));
    const { entry, prefix } = locateEntry(names);
    let bytes = 0;
    for (const n of names) bytes += zip.entries.get(n)!.uncompressedSize;
    const reqName = `${prefix}requirements.txt`;
    const requirements = zip.has(reqName) ? await zip.readText(reqName, 256 * 1024) : null;
    return { entry, files: names.length, bytes, requirements };
  } catch (err) {
    throw asInvalidProject(err);
  } finally {
    zip.close();
  }
}
