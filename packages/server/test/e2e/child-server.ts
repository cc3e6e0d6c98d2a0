/**
 * The real server as a child process (`node --import tsx packages/server/src/cli.ts`), so a test can
 * kill it with SIGKILL — no shutdown hook runs, nothing is flushed — and start it again on the same
 * data dir, while the printers (simulators in the test process) keep going.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

export { sleep, waitFor };

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const FIXTURE_3MF = path.join(repoRoot, 'packages/server/test/e2e/fixtures/fdm-monster.bambu.gcode.3mf');

export interface ApiAnswer {
  status: number;
  body: any;
}

/** An OS-picked free loopback port (the child needs a fixed one in its environment). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export class ChildServer {
  readonly dataDir: string;
  token = '';
  url = '';
  #child: ChildProcess | null = null;
  #output = '';

  /** `env`: extra settings for the child (a shared database and data dir for scale-out tests). */
  constructor(
    dataDir?: string,
    readonly env: Record<string, string> = {},
  ) {
    this.dataDir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-crash-'));
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Starts the server on the data dir and waits until it answers /health. The port is picked
   * free, then handed to the child; another socket may grab it in between, so retry on that.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#startOnce();
      } catch (err) {
        if (attempt >= 5 || !/already in use/.test((err as Error).message)) throw err;
        this.#child = null;
      }
    }
  }

  async #startOnce(): Promise<void> {
    if (this.#child) throw new Error('already running');
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/cli.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        RWC_DATA_DIR: this.dataDir,
        RWC_PORT: String(port),
        RWC_HOST: '127.0.0.1',
        RWC_MQTT_PORT: '0',
        RWC_DEMO: '0',
        RWC_LOG_LEVEL: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    // Keep the tail of the output for failure messages; reading also keeps the pipes from filling.
    const keep = (b: Buffer) => {
      this.#output = (this.#output + b.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // Generous: a cold tsx start on a shared, loaded machine can take tens of seconds.
    const until = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`server exited during start (${child.exitCode ?? child.signalCode}):\n${this.#output}`);
      }
      const ok = await fetch(`${this.url}/api/v1/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > until) throw new Error(`server did not come up:\n${this.#output}`);
      await sleep(25);
    }
  }

  /**
   * kill -9 without waiting: safe to call from inside an event handler at the exact moment
   * something happens (e.g. the printer receiving the start command).
   */
  killNow(): void {
    this.#child?.kill('SIGKILL');
  }

  /** kill -9 and wait until the process is gone. */
  async kill9(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGKILL');
      await gone;
    }
  }

  /** First-run setup and login; the token stays valid across restarts (the key is in the data dir). */
  async setupAdmin(): Promise<void> {
    const creds = { username: 'admin', password: 'correct-horse-battery' };
    const setup = await this.api('POST', '/api/v1/setup', creds);
    if (setup.status !== 201) throw new Error(`setup failed: ${setup.status}`);
    const login = await this.api('POST', '/api/v1/auth/login', creds);
    if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
    this.token = login.body.accessToken;
  }

  async api(method: string, url: string, body?: unknown): Promise<ApiAnswer> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let payload: RequestInit['body'];
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(this.url + url, { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed };
  }

  async addBambu(name: string, sim: BambuSimulator, model = 'A1 mini'): Promise<string> {
    const res = await this.api('POST', '/api/v1/printers', {
      name,
      driver: 'bambu',
      model,
      connection: sim.connectionInfo(),
    });
    if (res.status !== 201) throw new Error(`add printer failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  }

  async uploadFixture(): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(fs.readFileSync(FIXTURE_3MF))]), 'fdm-monster.gcode.3mf');
    const res = await this.api('POST', '/api/v1/files', form);
    if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  }

  async queue(): Promise<any> {
    return (await this.api('GET', '/api/v1/queue')).body;
  }

  async printerState(id: string): Promise<any> {
    return (await this.api('GET', `/api/v1/printers/${id}`)).body.state;
  }

  async destroy(): Promise<void> {
    await this.kill9();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}


export const projectFiles = (sim: BambuSimulator) =>
  sim.receivedCommands.filter((c) => c.print?.command === 'project_file');
