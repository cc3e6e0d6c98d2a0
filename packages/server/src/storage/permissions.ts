/**
 * The data dir holds password hashes, the event log, keys, printer secrets and uploaded files:
 * only the server's own user may read it. The dir and every folder in it are 0700, every file 0600.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Creates the data dir (0700), tightens what an older version left readable, and sets the process
 * umask to 077 so every file made later (database, WAL, uploads, keys) is 0600 from its first byte.
 */
export function secureDataDir(dataDir: string): void {
  try {
    process.umask(0o077);
  } catch {
    // Worker threads cannot change the umask; the chmod walk below still applies.
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  tighten(dataDir, 0);
}

/**
 * Makes a tree copied from elsewhere (fs.cpSync keeps the source's 0644/0755 modes, the umask does not
 * apply to copies) private like the rest of the data dir: folders 0700, files 0600.
 */
export function tightenTree(dir: string): void {
  tighten(dir, 0);
}

function tighten(dir: string, depth: number): void {
  chmodIfLoose(dir, 0o700);
  if (depth > 16) return;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    // Never follow links out of the data dir.
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) tighten(full, depth + 1);
    else if (e.isFile()) chmodIfLoose(full, 0o600);
  }
}

/** Drops group/other bits; a file keeps its owner's execute bit (plugin scripts, native helpers). */
function chmodIfLoose(file: string, mode: number): void {
  try {
    const current = fs.statSync(file).mode & 0o777;
    if ((current & 0o077) !== 0) fs.chmodSync(file, mode | (current & 0o100));
  } catch {
    // A file removed meanwhile, or one we do not own: nothing to tighten.
  }
}
