import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../src/config/config.ts';
import { type RunningServer, startServer } from '../../src/main.ts';
import { silentLogger } from '../../src/util/logger.ts';
import type { PluginHostOptions } from '../../src/plugins/host.ts';
import type { Clock } from '../../src/util/clock.ts';
import { createTempDatabase } from './pg.ts';

export type TestDialect = 'sqlite' | 'postgres';

export interface TestServer extends RunningServer {
  dataDir: string;
  /** fetch() relative to the server, JSON in and out. */
  api(method: string, url: string, opts?: { body?: unknown; token?: string; apiKey?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  /** Stops the server; keeps the data (dir and database) for a restart. */
  stop(): Promise<void>;
  /** Starts a fresh server process on the same data. */
  restart(): Promise<TestServer>;
  /** Stops and removes every trace. */
  destroy(): Promise<void>;
}

export function tempDir(prefix = 'rwc-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startTestServer(
  opts: {
    dialect?: TestDialect;
    config?: Partial<Config>;
    clock?: Clock;
    dataDir?: string;
    databaseUrl?: string;
    dropDb?: () => Promise<void>;
    /** A built web UI folder to serve (default: none). */
    webDist?: string | null;
    plugins?: PluginHostOptions;
  } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  let databaseUrl = opts.databaseUrl ?? null;
  let dropDb = opts.dropDb;
  if (opts.dialect === 'postgres' && !databaseUrl) {
    const db = await createTempDatabase();
    databaseUrl = db.url;
    dropDb = db.drop;
  }
  const server = await startServer({
    env: {},
    config: {
      dataDir,
      port: 0,
      host: '127.0.0.1',
      mqttPort: 0,
      demo: false,
      logLevel: 'silent',
      databaseUrl,
      ...(opts.config ?? {}),
    },
    clock: opts.clock,
    logger: silentLogger(),
    webDist: opts.webDist ?? null,
    plugins: opts.plugins,
  });
  const api: TestServer['api'] = async (method, url, o = {}) => {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.apiKey) headers['x-api-key'] = o.apiKey;
    let body: string | FormData | undefined;
    if (o.body instanceof FormData) body = o.body;
    else if (o.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.body);
    }
    const res = await fetch(server.url + url, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };
  const ts: TestServer = Object.assign(server, {
    dataDir,
    api,
    stop: () => server.close(),
    restart: async () => {
      await server.close();
      return startTestServer({ ...opts, dataDir, databaseUrl: databaseUrl ?? undefined, dropDb });
    },
    destroy: async () => {
      await server.close();
      await dropDb?.();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
  return ts;
}

/** Runs first-run setup and logs in; returns the admin's tokens. */
export async function setupAdmin(s: TestServer, username = 'admin', password = 'correct-horse-battery') {
  const setup = await s.api('POST', '/api/v1/setup', { body: { username, password } });
  if (setup.status !== 201) throw new Error(`setup failed: ${setup.status} ${JSON.stringify(setup.body)}`);
  const login = await s.api('POST', '/api/v1/auth/login', { body: { username, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  return login.body as { accessToken: string; refreshToken: string; expiresIn: number };
}
