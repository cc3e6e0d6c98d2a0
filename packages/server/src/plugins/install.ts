/**
 * Installing a plugin: from a folder on the server, or from a `.tgz` (what `npm pack` makes, with
 * its `package/` prefix, or a plain tar of the plugin folder). The manifest is checked before
 * anything lands in the plugins folder; archives are unpacked into a scratch folder with only
 * plain files and folders (no links, no absolute or `..` paths) and a size cap.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { badRequest, conflict, tooLarge } from '../errors.ts';
import { tightenTree } from '../storage/permissions.ts';
import { type PluginManifest, readManifest } from './manifest.ts';

const SKIP = new Set(['.rwc-build', '.git']);

/** Checks a folder holds a valid plugin; returns its manifest (400 naming the field otherwise). */
export function inspectFolder(dir: string): PluginManifest {
  if (!path.isAbsolute(dir)) throw badRequest('path: must be an absolute folder path on the server', 'validation_error', { field: 'path' });
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw badRequest(`path: ${dir} does not exist`, 'validation_error', { field: 'path' });
  }
  if (!stat.isDirectory()) throw badRequest(`path: ${dir} is not a folder`, 'validation_error', { field: 'path' });
  return readManifest(dir);
}

/** Copies a plugin folder to `<pluginsDir>/<id>` (refused when that id is installed). */
export function copyInto(pluginsDir: string, from: string, manifest: PluginManifest): string {
  const to = path.join(pluginsDir, manifest.id);
  if (fs.existsSync(to)) throw conflict(`a plugin with id ${manifest.id} is already installed; remove it first`, 'plugin_exists');
  fs.mkdirSync(pluginsDir, { recursive: true });
  const tmp = `${to}.installing-${crypto.randomBytes(4).toString('hex')}`;
  fs.cpSync(from, tmp, { recursive: true, filter: (src) => !SKIP.has(path.basename(src)) });
  // Copies keep the source's modes; inside the data dir everything is private to the server's user.
  tightenTree(tmp);
  fs.renameSync(tmp, to);
  return to;
}

/** Unpacks a `.tgz` into a scratch folder and returns the folder that holds plugin.toml. */
export async function unpackTgz(file: string, maxBytes: number): Promise<{ root: string; cleanup(): void }> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-plugin-'));
  const cleanup = () => fs.rmSync(scratch, { recursive: true, force: true });
  let total = 0;
  let refused: string | null = null;
  // Loaded on first use: most servers never install a plugin archive.
  const tar = await import('tar');
  try {
    await tar.x({
      file,
      cwd: scratch,
      strict: true,
      preservePaths: false,
      filter: (p, entry) => {
        const type = (entry as { type?: string }).type;
        if (type !== 'File' && type !== 'Directory' && type !== 'OldFile') {
          refused ??= `${p} is a ${type}; only files and folders are allowed`;
          return false;
        }
        total += (entry as { size?: number }).size ?? 0;
        if (total > maxBytes) {
          refused ??= `the unpacked plugin is over ${maxBytes} bytes`;
          return false;
        }
        return true;
      },
    });
  } catch (err) {
    cleanup();
    throw badRequest(`file: not a readable .tgz archive (${(err as Error).message})`, 'invalid_archive', { field: 'file' });
  }
  if (refused) {
    cleanup();
    if (String(refused).includes('bytes')) throw tooLarge(`file: ${refused}`);
    throw badRequest(`file: ${refused}`, 'invalid_archive', { field: 'file' });
  }
  let root = scratch;
  if (!fs.existsSync(path.join(root, 'plugin.toml'))) {
    const dirs = fs.readdirSync(scratch, { withFileTypes: true }).filter((d) => d.isDirectory());
    if (dirs.length === 1 && fs.existsSync(path.join(scratch, dirs[0]!.name, 'plugin.toml'))) root = path.join(scratch, dirs[0]!.name);
    else {
      cleanup();
      throw badRequest('file: the archive has no plugin.toml at its top (or in its single top folder)', 'invalid_manifest', { field: 'file' });
    }
  }
  return { root, cleanup };
}
