/**
 * Shared set-up for the dashboard's browser tests: builds the web app when needed, starts the real
 * server (demo fleet of simulated printers, temp data dir, OS-picked ports) and Debian's chromium.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { type RunningServer, startServer } from '@rwc/server/main.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const webDir = path.resolve(here, '../..');
export const repoRoot = path.resolve(webDir, '../..');
export const distDir = path.join(webDir, 'dist');
export const screenshotDir = path.join(repoRoot, 'test-results/screenshots');
export const CHROMIUM = process.env.RWC_CHROMIUM ?? '/usr/bin/chromium';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

/** Builds packages/web/dist when it is missing or older than the sources. */
export function ensureWebBuilt(): void {
  const index = path.join(distDir, 'index.html');
  const sourcesChanged =
    fs.existsSync(index) &&
    Math.max(newestMtime(path.join(webDir, 'src')), fs.statSync(path.join(webDir, 'vite.config.ts')).mtimeMs) >
      fs.statSync(index).mtimeMs;
  if (fs.existsSync(index) && !sourcesChanged) return;
  execFileSync(process.execPath, [path.join(repoRoot, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
    cwd: webDir,
    stdio: 'inherit',
  });
}

export async function startTestServer(): Promise<{ server: RunningServer; dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-web-'));
  const server = await startServer({
    config: { dataDir, port: 0, host: '127.0.0.1', demo: true, mqttPort: 0, logLevel: 'warn' },
    webDist: distDir,
  });
  // The demo puts two files in the library; the tests upload their own from an empty library.
  for (const f of await server.library.list({})) await server.library.delete(f.id);
  return { server, dataDir };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
