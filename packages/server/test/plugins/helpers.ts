import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginHostOptions } from '../../src/plugins/host.ts';
import { type TestDialect, type TestServer, setupAdmin, startTestServer, tempDir } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const fixturesDir = path.join(here, 'fixtures');
export const builtinPluginsDir = path.resolve(here, '../../../plugins');

/** A fresh folder holding copies of the named fixture plugins (so their builds never touch the repo). */
export function pluginFolder(names: string[], from = fixturesDir): string {
  const dir = tempDir('rwc-plugins-');
  for (const n of names) fs.cpSync(path.join(from, n), path.join(dir, n), { recursive: true, filter: (s) => !s.includes('.rwc-build') });
  return dir;
}

/** Short heartbeats and grace so failures show within a second or two. */
export const fastHost: PluginHostOptions = { heartbeatIntervalMs: 200, cancelGraceMs: 500, npmRoots: [] };

export interface PluginServer {
  server: TestServer;
  token: string;
  dir: string;
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  state(id: string): Promise<any>;
  waitState(id: string, state: string, timeoutMs?: number): Promise<any>;
  waitRun(runId: string, timeoutMs?: number): Promise<any>;
  /** A new server process on the same data (the admin logs in again). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startPluginServer(
  names: string[],
  opts: { host?: PluginHostOptions; dialect?: TestDialect; from?: string; config?: NonNullable<Parameters<typeof startTestServer>[0]>['config'] } = {},
): Promise<PluginServer> {
  const dir = pluginFolder(names, opts.from);
  const server = await startTestServer({ dialect: opts.dialect, config: opts.config, plugins: { ...fastHost, builtinDirs: [dir], ...(opts.host ?? {}) } });
  const { accessToken: token } = await setupAdmin(server);
  const api = async (method: string, url: string, body?: unknown) => out.server.api(method, url, { token: out.token, body });
  const state = async (id: string) => (await api('GET', `/api/v1/plugins/${id}`)).body;
  const out: PluginServer = {
    server,
    token,
    dir,
    api,
    state,
    waitState: (id, want, timeoutMs = 20_000) =>
      waitFor(async () => {
        const p = await state(id);
        return p.state === want ? p : null;
      }, `plugin ${id} to be ${want}`, timeoutMs),
    waitRun: (runId, timeoutMs = 20_000) =>
      waitFor(async () => {
        const r = (await api('GET', `/api/v1/runs/${runId}`)).body;
        return ['succeeded', 'failed', 'cancelled'].includes(r.status) ? r : null;
      }, `run ${runId} to end`, timeoutMs),
    restart: async () => {
      out.server = await out.server.restart();
      const login = await out.server.api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'correct-horse-battery' } });
      out.token = login.body.accessToken;
    },
    close: async () => {
      await out.server.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return out;
}
