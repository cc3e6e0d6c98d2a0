/**
 * Turns TypeScript into what `node` runs, so plugin processes start as plain `node x.mjs` (about
 * 45 MB and 0.15 s each) instead of under a TypeScript loader (about twice both). esbuild bundles
 * the SDK runner once per server start and a plugin's own `.ts` entry on each (re)start; bare
 * package imports stay external and resolve from the plugin's folder, except the SDK itself.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as esbuildTypes from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const sdkSrc = path.resolve(here, '../../../plugin-sdk/src');
const runnerSource = path.join(sdkSrc, 'runner/node-runner.ts');
/** What `@rwc/plugin-sdk[/x]` means inside a plugin: the SDK this server ships (like VS Code's `vscode`). */
const sdkModules: Record<string, string> = {
  '@rwc/plugin-sdk': path.join(sdkSrc, 'index.ts'),
  '@rwc/plugin-sdk/protocol': path.join(sdkSrc, 'protocol.ts'),
  '@rwc/plugin-sdk/channel': path.join(sdkSrc, 'channel.ts'),
};

/** Keeps bare imports external (they resolve at run time), except the SDK, which is inlined from this server. */
const externals: esbuildTypes.Plugin = {
  name: 'rwc-externals',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      const sdk = sdkModules[args.path];
      return sdk ? { path: sdk } : { external: true };
    });
  },
};

async function bundle(entry: string, outFile: string): Promise<void> {
  // Loaded on first use: a server without plugins to build never pays for it at start.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
    plugins: [externals],
  });
  const text = result.outputFiles[0]!.text;
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  // Two servers may build the same plugin at once: write aside, then rename over (atomic).
  const tmp = `${outFile}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, outFile);
}

export class PluginBuilder {
  #runner: Promise<string> | null = null;

  constructor(private readonly cacheDir: string) {}

  /** The bundled Node runner (built once per server start). */
  runnerPath(): Promise<string> {
    this.#runner ??= (async () => {
      const out = path.join(this.cacheDir, 'node-runner.mjs');
      await bundle(runnerSource, out);
      return out;
    })();
    this.#runner.catch(() => (this.#runner = null));
    return this.#runner;
  }

  /**
   * The file the runner imports for a plugin entry: JavaScript as it is; TypeScript bundled to
   * `<plugin>/.rwc-build/<name>.mjs` (next to its sources, so its own node_modules still resolve),
   * or into the cache when the plugin folder is read-only.
   */
  async entryPath(pluginDir: string, entry: string): Promise<string> {
    const abs = path.resolve(pluginDir, entry);
    if (!/\.(m|c)?tsx?$/.test(abs)) return abs;
    const name = `${entry.replace(/[^a-zA-Z0-9_-]+/g, '_')}.mjs`;
    const beside = path.join(pluginDir, '.rwc-build', name);
    try {
      await bundle(abs, beside);
      return beside;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EACCES' && (err as NodeJS.ErrnoException).code !== 'EROFS') throw err;
      const cached = path.join(this.cacheDir, path.basename(pluginDir), name);
      await bundle(abs, cached);
      return cached;
    }
  }
}
