/**
 * Robot runtime benchmark (seed 003), everything on loopback in this process plus the worker:
 *
 * 1. Worker round trip: one `call` over fd 3 (JSON lines) to a Python and a Node worker, without
 *    Socket.IO (the cost of the process boundary alone).
 * 2. `process` ack round trip: socket.io-client → /robot → worker → ack, for a trivial method (Python
 *    and Node) and the default project's GetState. Goal: p50 < 2 ms.
 * 3. Pushes per second to one client: the project pushes N events from a background thread as fast
 *    as it can; counted at the client (dropped ones, when the client falls behind, are reported).
 * 4. Reconnect-to-ready: the controller disconnects (the server runs stop(), the worker stays
 *    loaded), then a new connection is timed from io() to the first successful `process` ack.
 *    Goal: < 100 ms (seed 003 claims ~0.1 s).
 *
 *   npm run bench -- robot [--calls 2000] [--pushes 20000] [--reconnects 30]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Socket, io } from 'socket.io-client';
import { startServer } from '../packages/server/src/main.ts';
import { BUNDLED_DEFAULT_PROJECT, workerSpawnSpec } from '../packages/server/src/robot/spawn.ts';
import { WorkerProcess } from '../packages/server/src/robot/worker-process.ts';
import { arg } from './_cli.ts';
import { systemClock } from '../packages/server/src/util/clock.ts';
import { silentLogger } from '../packages/server/src/util/logger.ts';
import { percentile } from './_proc.ts';
import { buildZip } from '../packages/server/test/library/zip-writer.ts';

function report(label: string, samples: number[]): void {
  const s = [...samples].sort((a, b) => a - b);
  console.log(`${label}: p50 ${percentile(s, 50).toFixed(3)} ms, p99 ${percentile(s, 99).toFixed(3)} ms, max ${s.at(-1)!.toFixed(3)} ms (n=${s.length})`);
}

const PY_BENCH = `
import threading
from robot_runtime import push_message

class Bench:
    def echo(self, x=None):
        return x

    def flood(self, n=10000, size=64):
        payload = "x" * size
        def run():
            for i in range(n):
                push_message("flood", {"i": i, "p": payload})
            push_message("flood_done", {"n": n})
        threading.Thread(target=run, daemon=True).start()
        return {"started": n}

bench = Bench()
`;

const JS_BENCH = `
import { push_message } from 'robot_runtime';
export const bench = {
  echo(x) { return x ?? null; },
  flood({ n = 10000, size = 64 } = {}) {
    const p = 'x'.repeat(size);
    setImmediate(() => {
      for (let i = 0; i < n; i++) push_message('flood', { i, p });
      push_message('flood_done', { n });
    });
    return { started: n };
  },
};
`;

const now = () => performance.now();

async function workerRoundTrip(language: 'python' | 'node', calls: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-worker-'));
  const entry = language === 'python' ? ('main.py' as const) : ('main.mjs' as const);
  fs.writeFileSync(path.join(dir, entry), language === 'python' ? PY_BENCH : JS_BENCH);
  const project = { source: 'upload' as const, name: null, language, entry, sha256: null, updatedAt: null, updatedBy: null, requirements: null };
  const w = new WorkerProcess(workerSpawnSpec({ project, projectDir: dir, python: 'python3', venv: null }), {
    onPush: () => {},
    onLog: () => {},
    onExit: () => {},
  });
  await w.ready;
  await w.request('load', { projectDir: dir, entry });
  const samples: number[] = [];
  for (let i = 0; i < calls + 200; i++) {
    const t0 = now();
    await w.request('call', { object: 'bench', method: 'echo', args: [i] });
    if (i >= 200) samples.push(now() - t0);
  }
  report(`worker round trip over fd 3, ${language} (call bench.echo)`, samples);
  await w.shutdown(2000);
  fs.rmSync(dir, { recursive: true, force: true });
}

function connect(url: string, token: string): Promise<Socket> {
  const s = io(`${url}/robot`, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

const ask = (s: Socket, event: string, payload?: unknown) => s.timeout(60_000).emitWithAck(event, payload) as Promise<{ status: string; message: string; data: any }>;

async function processRoundTrip(s: Socket, label: string, object: string, method: string, args: unknown, calls: number): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < calls + 200; i++) {
    const t0 = now();
    const a = await ask(s, 'process', { params: { object, method, args } });
    if (a.status !== 'success') throw new Error(`${method}: ${a.message}`);
    if (i >= 200) samples.push(now() - t0);
  }
  report(`process ack round trip, ${label}`, samples);
}

async function pushRate(s: Socket, label: string, n: number): Promise<void> {
  let received = 0;
  let first = 0;
  let last = 0;
  const onFlood = () => {
    if (!received) first = now();
    received++;
    last = now();
  };
  s.on('flood', onFlood);
  const done = new Promise<void>((resolve) => s.once('flood_done', () => resolve()));
  const t0 = now();
  await ask(s, 'process', { params: { object: 'bench', method: 'flood', args: { n, size: 64 } } });
  await Promise.race([done, new Promise((r) => setTimeout(r, 60_000))]);
  await new Promise((r) => setTimeout(r, 200));
  s.off('flood', onFlood);
  const seconds = (last - first) / 1000;
  console.log(
    `pushes to one client, ${label}: ${Math.round(received / Math.max(seconds, 1e-6))}/s (${received} of ${n} delivered in ${seconds.toFixed(2)} s; first after ${(first - t0).toFixed(1)} ms${received < n ? `; ${n - received} dropped for the slow reader` : ''})`,
  );
}

export async function run(args: string[]): Promise<void> {
  const calls = arg(args, 'calls', 2000);
  const pushes = arg(args, 'pushes', 20000);
  const reconnects = arg(args, 'reconnects', 30);
  console.log(`robot bench: ${os.cpus().length} CPUs, node ${process.version}, loopback only`);

  await workerRoundTrip('python', calls);
  await workerRoundTrip('node', calls);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-robot-'));
  const server = await startServer({
    env: {},
    config: { dataDir, port: 0, host: '127.0.0.1', mqttPort: 0, demo: false, logLevel: 'silent', robotDeadmanMs: 600_000 },
    logger: silentLogger(),
    webDist: null,
    clock: systemClock,
  });
  try {
    const post = (url: string, body: unknown, token?: string) =>
      fetch(server.url + url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<any>);
    await post('/api/v1/setup', { username: 'bench', password: 'bench-password' });
    const { accessToken } = await post('/api/v1/auth/login', { username: 'bench', password: 'bench-password' });

    let s = await connect(server.url, accessToken);
    await processRoundTrip(s, 'default project sport_client.GetState (Python)', 'sport_client', 'GetState', {}, calls);

    for (const [language, entry, source] of [
      ['Python', 'main.py', PY_BENCH],
      ['Node', 'main.mjs', JS_BENCH],
    ] as const) {
      const up = await ask(s, 'update', { data: buildZip([{ name: entry, data: source }]).toString('base64') });
      if (up.status !== 'success') throw new Error(up.message);
      await processRoundTrip(s, `bench.echo (${language})`, 'bench', 'echo', [1], calls);
      await pushRate(s, language, pushes);
    }

    // Reconnect-to-ready on the default project, as a client sees it after a network blip.
    const back = await ask(s, 'update', { data: buildZip([{ name: 'main.py', data: fs.readFileSync(path.join(BUNDLED_DEFAULT_PROJECT, 'main.py'), 'utf8') }]).toString('base64') });
    if (back.status !== 'success') throw new Error(back.message);
    await ask(s, 'process', { params: { object: 'sport_client', method: 'StandUp', args: {} } });
    const pid = server.robot.runtime.supervisor.pid;
    const toConnect: number[] = [];
    const toReady: number[] = [];
    for (let i = 0; i < reconnects; i++) {
      s.close();
      // The server has run stop() and freed control before we come back.
      const until = Date.now() + 10_000;
      while (server.robot.runtime.lock.holder && Date.now() < until) await new Promise((r) => setTimeout(r, 2));
      const t0 = now();
      s = await connect(server.url, accessToken);
      toConnect.push(now() - t0);
      const a = await ask(s, 'process', { params: { object: 'sport_client', method: 'GetState', args: { keys: ['mode'] } } });
      toReady.push(now() - t0);
      if (a.data?.state?.mode !== 'standing') throw new Error(`state lost on reconnect: ${JSON.stringify(a)}`);
    }
    report('reconnect: io() to connected (auth included)', toConnect);
    report('reconnect-to-ready: io() to the first process ack', toReady);
    console.log(`worker kept across ${reconnects} reconnects: ${server.robot.runtime.supervisor.pid === pid ? 'yes' : 'NO'} (pid ${pid}); the dog stayed standing`);

    // For contrast: a cold start (a new worker process imports the project) after an update.
    const cold: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = now();
      await ask(s, 'update', { data: buildZip([{ name: 'main.py', data: PY_BENCH }]).toString('base64') });
      cold.push(now() - t0);
    }
    report('cold start: update (unpack + stop + new Python worker + import) to ack', cold);
    s.close();
  } finally {
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
