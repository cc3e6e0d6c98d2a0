/**
 * Plugin host benchmark (issue 13): the real server (startServer, SQLite) with plugins in their
 * own processes, all on this machine.
 *
 * 1. Entry call round trip: host → plugin (fd-3 NDJSON) → host, sequential, as a capability call
 *    (no run record) and as a recorded run (run rows written to the database in the background).
 *    Also the HTTP path: POST /plugins/:id/entries/:entry → 202, then polling GET /runs/:id.
 * 2. Events per second delivered to a subscribed plugin: `queue.changed` emitted on the bus as fast
 *    as the server can, counted inside the plugin.
 * 3. Memory per idle plugin: server RSS and heap before and after starting K idle plugins, and each
 *    plugin process's own RSS.
 *
 *   npm run bench -- plugins [--calls 2000] [--events 20000] [--idle 5]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../packages/server/src/main.ts';
import { silentLogger } from '../packages/server/src/util/logger.ts';
import { mib, percentile, procSample } from './_proc.ts';
import { arg } from './_cli.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

function report(label: string, samples: number[]): void {
  const s = [...samples].sort((a, b) => a - b);
  console.log(`${label}: p50 ${percentile(s, 50).toFixed(3)} ms, p99 ${percentile(s, 99).toFixed(3)} ms, max ${s.at(-1)!.toFixed(3)} ms (n=${s.length})`);
}

async function until(fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export async function run(args: string[]): Promise<void> {
  const calls = arg(args, 'calls', 2000);
  const eventCount = arg(args, 'events', 20000);
  const idle = arg(args, 'idle', 5);
  const pluginsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-plugins-'));
  fs.cpSync(path.join(here, '_plugins', 'bench-echo'), path.join(pluginsDir, 'bench-echo'), { recursive: true });
  for (let i = 1; i <= idle; i++) {
    const dir = path.join(pluginsDir, `bench-idle-${i}`);
    fs.cpSync(path.join(here, '_plugins', 'bench-echo'), dir, { recursive: true });
    const toml = path.join(dir, 'plugin.toml');
    // Idle plugins start disabled; the memory part enables them one by one.
    fs.writeFileSync(toml, fs.readFileSync(toml, 'utf8').replace('id = "bench-echo"', `id = "bench-idle-${i}"\ndefault_enabled = false`));
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-data-'));
  const server = await startServer({
    env: {},
    config: { dataDir, port: 0, host: '127.0.0.1', mqttPort: 0, demo: false, logLevel: 'silent', databaseUrl: null },
    logger: silentLogger(),
    webDist: null,
    plugins: { builtinDirs: [pluginsDir], npmRoots: [] },
  });
  try {
    await server.plugins.whenStarted();
    const host = server.plugins;
    console.log(`plugin host bench on ${os.cpus().length} cores, Node ${process.version}`);

    // 1. round trips
    for (let i = 0; i < 200; i++) await host.call('bench-echo', 'echo', { n: i });
    const direct: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      await host.call('bench-echo', 'echo', { n: i });
      direct.push(performance.now() - t);
    }
    report('entry call round trip (capability call, no run record)', direct);
    const recorded: number[] = [];
    const mp = host.managed('bench-echo');
    for (let i = 0; i < Math.min(calls, 1000); i++) {
      const t = performance.now();
      await mp.call('echo', { n: i }, { trigger: 'http', record: true }).result;
      recorded.push(performance.now() - t);
    }
    report('entry call round trip (recorded run)', recorded);
    await host.runs.settle();
    // 2. events per second
    const before = (await host.call('bench-echo', 'events', {})) as number;
    const t0 = performance.now();
    for (let i = 0; i < eventCount; i++) {
      server.infra.bus.emit('queue.changed', { reason: 'bench' });
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
    }
    const emitMs = performance.now() - t0;
    await until(async () => ((await host.call('bench-echo', 'events', {})) as number) - before >= eventCount - host.view('bench-echo').metrics.eventsDropped, 120_000);
    const totalMs = performance.now() - t0;
    const view = host.view('bench-echo');
    console.log(
      `events delivered to a subscribed plugin: ${Math.round((eventCount / totalMs) * 1000)} events/s end to end (${eventCount} events; emitting took ${emitMs.toFixed(0)} ms; dropped ${view.metrics.eventsDropped})`,
    );

    // 3. memory per idle plugin
    const settle = async () => {
      global.gc?.();
      await new Promise((r) => setTimeout(r, 1500));
    };
    await settle();
    const base = { rss: procSample(process.pid).rssBytes, heap: process.memoryUsage().heapUsed };
    const childRss: number[] = [];
    for (let i = 1; i <= idle; i++) await host.enable(`bench-idle-${i}`);
    await settle();
    for (let i = 1; i <= idle; i++) {
      const pid = host.view(`bench-idle-${i}`).health.pid;
      if (pid) childRss.push(procSample(pid).rssBytes);
    }
    const after = { rss: procSample(process.pid).rssBytes, heap: process.memoryUsage().heapUsed };
    console.log(
      `memory per idle plugin: server RSS +${((after.rss - base.rss) / idle / 1024).toFixed(0)} KiB, server heap +${((after.heap - base.heap) / idle / 1024).toFixed(0)} KiB, plugin process RSS ${mib(childRss.reduce((a, b) => a + b, 0) / Math.max(1, childRss.length))} each (${idle} plugins)`,
    );
  } finally {
    await server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(pluginsDir, { recursive: true, force: true });
  }
}
