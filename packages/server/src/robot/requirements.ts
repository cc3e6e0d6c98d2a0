import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DomainError, badRequest } from '../errors.ts';

/** What a project's requirements.txt asks for, as reported to the client after `update`. */
export interface RequirementsReport {
  /** The requirement specifiers, one per line, comments and blanks removed. */
  packages: string[];
  /** Lines an install would refuse (pip options, URLs, editable installs), with the reason. */
  refused: Array<{ line: string; reason: string }>;
  /** sha256 of the file: names the project's venv, so a re-upload of the same list reuses it. */
  sha256: string;
  /** True when a venv with these requirements exists and the worker runs in it. */
  installed: boolean;
}

/** A PEP 508 name with optional extras, version specifiers and environment markers; no URLs. */
const SPEC = /^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]+\])?\s*([<>=!~]=?[^;@\s]+(\s*,\s*[<>=!~]=?[^;@\s]+)*)?\s*(;.+)?$/;

/**
 * Parses requirements.txt. Only plain specifiers are installable: pip options (`-r`, `-e`,
 * `--index-url`, `--extra-index-url`, `-f`, …) and URLs would let a project pick where code is
 * fetched from, so those lines are refused; where packages come from is the admin's setting
 * (`RWC_ROBOT_PIP_ARGS`).
 */
export function parseRequirements(text: string): Omit<RequirementsReport, 'installed'> {
  const packages: string[] = [];
  const refused: RequirementsReport['refused'] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    if (line.startsWith('-')) refused.push({ line, reason: 'pip options are not allowed; the admin sets the package source' });
    else if (line.includes('://') || line.includes('@')) refused.push({ line, reason: 'URLs are not allowed; name a package and version' });
    else if (!SPEC.test(line)) refused.push({ line, reason: 'not a package specifier (name[extras] and version, e.g. "numpy>=1.24")' });
    else packages.push(line);
  }
  return { packages, refused, sha256: crypto.createHash('sha256').update(text).digest('hex') };
}

/** The venv folder for a requirements list. */
export function venvDir(venvRoot: string, sha256: string): string {
  return path.join(venvRoot, sha256.slice(0, 16));
}

export function venvPython(dir: string): string {
  return path.join(dir, 'bin', 'python');
}

/** True when the venv was completed (the marker is written only after pip succeeded). */
export function venvReady(dir: string): boolean {
  return fs.existsSync(path.join(dir, '.rwc-installed')) && fs.existsSync(venvPython(dir));
}

function run(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number; onLine(line: string): void }): Promise<{ code: number | null; tail: string[] }> {
  return new Promise((resolve) => {
    const tail: string[] = [];
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' } });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    for (const s of [child.stdout, child.stderr]) {
      s.setEncoding('utf8');
      let partial = '';
      s.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) {
          tail.push(l);
          if (tail.length > 30) tail.shift();
          opts.onLine(l);
        }
      });
    }
    child.on('error', (err) => {
      clearTimeout(timer);
      tail.push(err.message);
      resolve({ code: null, tail });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, tail });
    });
  });
}

/**
 * Creates the project's venv (`--system-site-packages`, so packages from the system, such as a
 * vendor SDK installed with apt, stay importable) and pip-installs the requirements into it.
 * Only an admin triggers this (POST /api/v1/robot/requirements). `pipArgs` is the admin's setting
 * (for example `--no-index --find-links /srv/wheels` on a robot without internet).
 * Throws a DomainError naming what failed, with pip's last lines.
 */
export async function installRequirements(opts: {
  python: string;
  pipArgs: string;
  projectDir: string;
  venvRoot: string;
  timeoutMs: number;
  onLine(line: string): void;
}): Promise<{ venv: string; report: RequirementsReport }> {
  const file = path.join(opts.projectDir, 'requirements.txt');
  if (!fs.existsSync(file)) throw badRequest('the current project has no requirements.txt', 'no_requirements');
  const parsed = parseRequirements(fs.readFileSync(file, 'utf8'));
  if (parsed.refused.length) {
    throw badRequest(
      `requirements.txt has lines that cannot be installed: ${parsed.refused.map((r) => `"${r.line}" (${r.reason})`).join('; ')}`,
      'requirements_refused',
    );
  }
  const dir = venvDir(opts.venvRoot, parsed.sha256);
  if (venvReady(dir)) return { venv: dir, report: { ...parsed, installed: true } };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(opts.venvRoot, { recursive: true });
  const runOpts = { cwd: opts.projectDir, timeoutMs: opts.timeoutMs, onLine: opts.onLine };
  // Without its own pip first (a second, not ~20 s of ensurepip): the system's pip is visible
  // through --system-site-packages and installs into the venv. Only when it is not, seed one.
  let created = await run(opts.python, ['-m', 'venv', '--system-site-packages', '--without-pip', dir], runOpts);
  if (created.code === 0 && (await run(venvPython(dir), ['-m', 'pip', '--version'], runOpts)).code !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    created = await run(opts.python, ['-m', 'venv', '--system-site-packages', dir], runOpts);
  }
  if (created.code !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new DomainError('unavailable', 'venv_failed', `creating the venv failed: ${created.tail.slice(-5).join(' | ')}`);
  }
  if (parsed.packages.length) {
    const pipArgs = opts.pipArgs.split(/\s+/).filter(Boolean);
    const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...pipArgs, ...parsed.packages];
    const installed = await run(venvPython(dir), args, runOpts);
    if (installed.code !== 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new DomainError(
        'unavailable',
        'requirements_install_failed',
        `pip could not install the requirements (is the package index reachable? see RWC_ROBOT_PIP_ARGS): ${installed.tail.filter(Boolean).slice(-4).join(' | ')}`,
      );
    }
  }
  fs.writeFileSync(path.join(dir, '.rwc-installed'), `${new Date().toISOString()}\n${parsed.packages.join('\n')}\n`);
  return { venv: dir, report: { ...parsed, installed: true } };
}
