/**
 * Where plugins come from (OctoPrint's plugin folders plus entry points, Homebridge's npm
 * packages): the plugins folder in the data dir, installed npm packages that say they are a
 * RealWorldClaw plugin (`"keywords": ["realworldclaw-plugin"]` and a plugin.toml next to their
 * package.json), and the plugins that ship with the server. Manifests are read, never run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type PluginManifest, readManifest } from './manifest.ts';

export type PluginSource = 'builtin' | 'folder' | 'installed' | 'npm';

export interface Found {
  dir: string;
  source: PluginSource;
  manifest: PluginManifest;
}

export interface Broken {
  dir: string;
  source: PluginSource;
  error: string;
}

export const NPM_KEYWORD = 'realworldclaw-plugin';

function subdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => (d.isDirectory() || d.isSymbolicLink()) && !d.name.startsWith('.'))
      .map((d) => path.join(dir, d.name));
  } catch {
    return [];
  }
}

function npmPackages(nodeModules: string): string[] {
  const out: string[] = [];
  for (const d of subdirs(nodeModules)) {
    if (path.basename(d).startsWith('@')) out.push(...subdirs(d));
    else out.push(d);
  }
  return out.filter((d) => {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')) as { keywords?: unknown };
      return Array.isArray(pkg.keywords) && pkg.keywords.includes(NPM_KEYWORD) && fs.existsSync(path.join(d, 'plugin.toml'));
    } catch {
      return false;
    }
  });
}

/**
 * Scans every source. The first source that has an id wins, in this order: the data dir's folder
 * (what the user put or installed there), npm packages, built-ins; so a user can replace a
 * built-in with a newer copy.
 */
export function discover(opts: { dataPluginsDir: string; npmRoots: string[]; builtinDirs: string[] }): { found: Found[]; broken: Broken[] } {
  const candidates: Array<{ dir: string; source: PluginSource }> = [
    ...subdirs(opts.dataPluginsDir).map((dir) => ({ dir, source: 'folder' as const })),
    ...opts.npmRoots.flatMap((r) => npmPackages(r)).map((dir) => ({ dir, source: 'npm' as const })),
    ...opts.builtinDirs.flatMap((b) => subdirs(b)).map((dir) => ({ dir, source: 'builtin' as const })),
  ];
  const found: Found[] = [];
  const broken: Broken[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (!fs.existsSync(path.join(c.dir, 'plugin.toml'))) continue;
    try {
      const manifest = readManifest(c.dir);
      if (seen.has(manifest.id)) continue;
      seen.add(manifest.id);
      found.push({ ...c, manifest });
    } catch (err) {
      broken.push({ ...c, error: (err as Error).message });
    }
  }
  return { found, broken };
}
