import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tightenTree } from '../storage/permissions.ts';
import type { Clock } from '../util/clock.ts';
import { ENTRY_FILES, type EntryFile, type ProjectZipLimits, extractProjectZip, invalidProject } from './project-zip.ts';
import { type RequirementsReport, parseRequirements, venvDir, venvReady } from './requirements.ts';

/** The project a worker runs, as GET /api/v1/robot and the `update`/`start` acks describe it. */
export interface ProjectInfo {
  /** `default`: the bundled (or admin-edited) default project; `upload`: sent with `update`. */
  source: 'default' | 'upload';
  /** The uploaded file's name when known. */
  name: string | null;
  language: 'python' | 'node';
  entry: EntryFile;
  sha256: string | null;
  updatedAt: string | null;
  updatedBy: string | null;
  requirements: RequirementsReport | null;
}

interface StoredState {
  source: 'default' | 'upload';
  name: string | null;
  sha256: string | null;
  updatedAt: string | null;
  updatedBy: string | null;
}

export interface StagedProject {
  dir: string;
  entry: EntryFile;
  files: number;
  bytes: number;
  strippedFolder: string | null;
  meta: { name: string | null; sha256: string; by: string };
}

const UPLOAD_ID = /^[0-9a-f-]{36}$/;
const KEEP_UPLOADS = 5;

/**
 * The robot's storage (seed 003 layout): `projects/default` (the default project, never touched by
 * an update), `projects/current` (what the worker runs; filled from `default` when empty),
 * `uploads/` (ZIPs posted over HTTP, waiting for `update {projectId}`), `venvs/` (one per
 * requirements list) and `state.json` (where `current` came from).
 */
export class ProjectStore {
  readonly root: string;
  readonly defaultDir: string;
  readonly currentDir: string;
  readonly uploadsDir: string;
  readonly venvRoot: string;
  readonly #stagingDir: string;
  readonly #bundledDefault: string;
  readonly #limits: ProjectZipLimits;
  readonly #clock: Clock;

  constructor(opts: { root: string; bundledDefault: string; limits: ProjectZipLimits; clock: Clock }) {
    this.root = opts.root;
    this.defaultDir = path.join(opts.root, 'projects', 'default');
    this.currentDir = path.join(opts.root, 'projects', 'current');
    this.#stagingDir = path.join(opts.root, 'projects', '.staging');
    this.uploadsDir = path.join(opts.root, 'uploads');
    this.venvRoot = path.join(opts.root, 'venvs');
    this.#bundledDefault = opts.bundledDefault;
    this.#limits = opts.limits;
    this.#clock = opts.clock;
  }

  get limits(): ProjectZipLimits {
    return this.#limits;
  }

  /** Creates the folders; installs the bundled default project when `default` is missing or empty. */
  init(): void {
    for (const d of [path.dirname(this.defaultDir), this.uploadsDir, this.venvRoot]) fs.mkdirSync(d, { recursive: true });
    fs.rmSync(this.#stagingDir, { recursive: true, force: true });
    if (isEmptyDir(this.defaultDir)) {
      removeIfEmpty(this.defaultDir);
      copyProject(this.#bundledDefault, this.defaultDir);
    }
  }

  /** Makes sure `current` holds a project (seed 003: an empty `current` gets a copy of `default`). */
  ensureCurrent(): ProjectInfo {
    if (isEmptyDir(this.currentDir)) {
      removeIfEmpty(this.currentDir);
      copyProject(this.defaultDir, this.currentDir);
      this.#writeState({ source: 'default', name: null, sha256: null, updatedAt: new Date(this.#clock.now()).toISOString(), updatedBy: null });
    }
    return this.info();
  }

  /**
   * Puts a fresh copy of `default` in `current` (seed 003 "恢复默认项目": what `rm -rf current/*`
   * and a restart did there, reachable over the API here). The worker is stopped meanwhile.
   */
  restoreDefault(): void {
    const trash = path.join(this.#stagingDir, `old-${crypto.randomUUID()}`);
    fs.mkdirSync(this.#stagingDir, { recursive: true });
    if (fs.existsSync(this.currentDir)) fs.renameSync(this.currentDir, trash);
    this.ensureCurrent();
    fs.rm(trash, { recursive: true, force: true }, () => {});
  }

  /** What `current` holds now. Throws invalidProject when it has no entry file. */
  info(): ProjectInfo {
    const state = this.#readState();
    const entry = ENTRY_FILES.find((f) => fs.existsSync(path.join(this.currentDir, f)));
    if (!entry) throw invalidProject(`${this.currentDir} has no ${ENTRY_FILES.join(', ')}`);
    return {
      ...state,
      language: entry.endsWith('.py') ? 'python' : 'node',
      entry,
      requirements: this.requirements(this.currentDir),
    };
  }

  /** The requirements report of a project folder, or null when it has no requirements.txt. */
  requirements(dir: string): RequirementsReport | null {
    const file = path.join(dir, 'requirements.txt');
    if (!fs.existsSync(file)) return null;
    const parsed = parseRequirements(fs.readFileSync(file, 'utf8').slice(0, 256 * 1024));
    return { ...parsed, installed: venvReady(venvDir(this.venvRoot, parsed.sha256)) };
  }

  /** The venv the current project runs in, or null (system Python). */
  currentVenv(): string | null {
    const req = this.requirements(this.currentDir);
    if (!req) return null;
    const dir = venvDir(this.venvRoot, req.sha256);
    return venvReady(dir) ? dir : null;
  }

  /** Validates and unpacks a ZIP next to `current` (which keeps running); throws invalidProject. */
  async stage(zipPath: string, meta: { name: string | null; by: string }): Promise<StagedProject> {
    fs.mkdirSync(this.#stagingDir, { recursive: true });
    const dir = path.join(this.#stagingDir, crypto.randomUUID());
    const sha256 = await sha256File(zipPath);
    const extracted = await extractProjectZip(zipPath, dir, this.#limits);
    return { dir, ...extracted, meta: { ...meta, sha256 } };
  }

  discard(staged: StagedProject): void {
    fs.rmSync(staged.dir, { recursive: true, force: true });
  }

  /** Swaps a staged project in as `current` (the worker is stopped meanwhile). */
  activate(staged: StagedProject): void {
    const trash = path.join(this.#stagingDir, `old-${crypto.randomUUID()}`);
    if (fs.existsSync(this.currentDir)) fs.renameSync(this.currentDir, trash);
    fs.renameSync(staged.dir, this.currentDir);
    this.#writeState({
      source: 'upload',
      name: staged.meta.name,
      sha256: staged.meta.sha256,
      updatedAt: new Date(this.#clock.now()).toISOString(),
      updatedBy: staged.meta.by,
    });
    fs.rm(trash, { recursive: true, force: true }, () => {});
  }

  /** Where an HTTP-uploaded ZIP is kept; throws invalidProject for an unknown id. */
  uploadPath(projectId: string): string {
    const file = path.join(this.uploadsDir, `${projectId}.zip`);
    if (!UPLOAD_ID.test(projectId) || !fs.existsSync(file)) {
      throw invalidProject(`no uploaded project "${String(projectId).slice(0, 64)}": POST it to /api/v1/robot/projects first`);
    }
    return file;
  }

  /** A fresh upload file name (uploads/<id>.zip); keeps only the newest few uploads. */
  newUpload(): { id: string; file: string } {
    const entries = fs
      .readdirSync(this.uploadsDir)
      .filter((f) => f.endsWith('.zip'))
      .map((f) => ({ f, t: fs.statSync(path.join(this.uploadsDir, f)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const old of entries.slice(KEEP_UPLOADS - 1)) fs.rmSync(path.join(this.uploadsDir, old.f), { force: true });
    const id = crypto.randomUUID();
    return { id, file: path.join(this.uploadsDir, `${id}.zip`) };
  }

  #readState(): StoredState {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.root, 'state.json'), 'utf8')) as StoredState;
    } catch {
      return { source: 'default', name: null, sha256: null, updatedAt: null, updatedBy: null };
    }
  }

  #writeState(state: StoredState): void {
    const file = path.join(this.root, 'state.json');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
    fs.renameSync(`${file}.tmp`, file);
  }
}

function isEmptyDir(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch {
    return true;
  }
}

/** Removes an empty folder; one that another process has just filled stays (rmdir refuses it). */
function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') fs.rmSync(dir, { force: true });
    else if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
}

/**
 * Copies a project folder whole into place: into a temp sibling first, then one rename. Server
 * processes sharing a data dir (scale-out) may start at the same moment; the first rename wins and
 * the others drop their copy, so nobody sees (or trips over) a half-copied folder.
 */
function copyProject(from: string, to: string): void {
  const tmp = `${to}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.cpSync(from, tmp, { recursive: true, filter: (src) => !src.includes(`${path.sep}__pycache__`) });
  // The bundled default project comes from the install (0644/0755); in the data dir it is private.
  tightenTree(tmp);
  try {
    fs.renameSync(tmp, to);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || isEmptyDir(to)) throw err;
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
