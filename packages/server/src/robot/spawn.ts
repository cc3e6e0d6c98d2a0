import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProjectInfo } from './projects.ts';
import { venvPython } from './requirements.ts';
import type { SpawnSpec } from './worker-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PYTHON_RUNNER = path.join(here, 'runtime', 'python', 'runner.py');
export const NODE_RUNNER = path.join(here, 'runtime', 'node', 'runner.mjs');
/** On NODE_PATH, so `require('robot_runtime')` works in CommonJS projects too. */
const NODE_CJS_PATH = path.join(here, 'runtime', 'node', 'cjs');
/** The bundled default project (copied to `projects/default` on first start). */
export const BUNDLED_DEFAULT_PROJECT = path.join(here, 'default-project');

/** Variables a project never sees: the server's own settings and anything that looks like a secret. */
const HIDDEN_ENV = /^(RWC_|npm_|VITEST|NODE_OPTIONS$)|SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|API_?KEY/i;

/** The worker's environment: the server's, minus its settings and secrets (RWC_DATABASE_URL, …). */
export function workerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!HIDDEN_ENV.test(k)) out[k] = v;
  return out;
}

let tsxLoader: string | null = null;
function tsxLoaderUrl(): string {
  // The whole tsx loader (ESM and CommonJS hooks): a main.ts without "type": "module" is CommonJS.
  tsxLoader ??= pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return tsxLoader;
}

/**
 * How to run a project: Python projects with `python3 -u runner.py` (the project's venv Python
 * when an admin installed its requirements), JavaScript with this Node binary and runner.mjs,
 * TypeScript the same through tsx's loader.
 */
export function workerSpawnSpec(opts: { project: ProjectInfo; projectDir: string; python: string; venv: string | null }): SpawnSpec {
  const env = workerEnv(process.env);
  env.RWC_ROBOT_PROJECT_DIR = opts.projectDir;
  if (opts.project.language === 'python') {
    return {
      command: opts.venv ? venvPython(opts.venv) : opts.python,
      args: ['-u', '-X', 'faulthandler', PYTHON_RUNNER],
      cwd: opts.projectDir,
      env: {
        ...env,
        PYTHONUNBUFFERED: '1',
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONIOENCODING: 'utf-8',
        ...(opts.venv ? { VIRTUAL_ENV: opts.venv } : {}),
      },
    };
  }
  const loader = opts.project.entry === 'main.ts' ? ['--import', tsxLoaderUrl()] : [];
  const nodePath = [NODE_CJS_PATH, env.NODE_PATH].filter(Boolean).join(path.delimiter);
  return { command: process.execPath, args: [...loader, NODE_RUNNER], cwd: opts.projectDir, env: { ...env, NODE_PATH: nodePath } };
}
