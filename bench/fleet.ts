/**
 * `npm run bench -- fleet --printers N [--seconds S]`: N simulated Bambu printers (1 report/s while
 * printing) connected over TLS to one server process. Prints the server's CPU %, RSS, reports/s, and
 * the latency from a simulator publishing a report to the matching WebSocket event at a client.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { type BambuSimulator, startBambuFleet } from '../packages/simulators/src/bambu/index.ts';
import { mib, percentile, procSample } from './_proc.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function api(url: string, method: string, p: string, body?: unknown, token?: string) {
  const res = await fetch(url + p, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function run(args: string[]): Promise<void> {
  const n = arg(args, 'printers', 100);
  const seconds = arg(args, 'seconds', 20);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-fleet-'));
  const t0 = Date.now();
  console.log(`fleet bench: starting ${n} simulated Bambu printers…`);
  const sims: BambuSimulator[] = [];
  for (let i = 0; i < n; i += 100) {
    sims.push(...(await startBambuFleet({ count: Math.min(100, n - i), reportIntervalMs: 1000, serial: `BENCH${i}` })));
  }
  console.log(`  simulators up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const child = fork(path.join(here, '_fleet-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_DATA_DIR: dataDir },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: any) => resolve(m.url));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  try {
    await api(url, 'POST', '/api/v1/setup', { username: 'bench', password: 'bench-password' });
    const { accessToken } = await api(url, 'POST', '/api/v1/auth/login', { username: 'bench', password: 'bench-password' });
    const idOf = new Map<BambuSimulator, string>();
    const simOf = new Map<string, BambuSimulator>();
    const tAdd = Date.now();
    for (let i = 0; i < sims.length; i += 50) {
      await Promise.all(
        sims.slice(i, i + 50).map(async (s) => {
          const p = await api(
            url,
            'POST',
            '/api/v1/printers',
            {
              name: s.serial,
              driver: 'bambu',
              model: s.model,
              connection: {
                host: s.host,
                serial: s.serial,
                accessCode: s.accessCode,
                mqttPort: s.ports.mqtt,
                ftpsPort: s.ports.ftps,
                cameraPort: s.ports.camera,
                caCertPem: s.caCertPem,
              },
            },
            accessToken,
          );
          idOf.set(s, p.id);
          simOf.set(p.id, s);
        }),
      );
    }
    console.log(`  ${n} printers added in ${((Date.now() - tAdd) / 1000).toFixed(1)} s`);

    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/ws?token=${accessToken}`);
    const ready = new Set<string>();
    const pending = new Map<string, { value: number; sentAt: number }>();
    const latencies: number[] = [];
    let events = 0;
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw));
      if (msg.type === 'snapshot') {
        for (const p of msg.data.printers) if (p.state.fullStatus) ready.add(p.id);
        return;
      }
      if (msg.type !== 'printer.state') return;
      events++;
      const { printerId, state } = msg.data;
      if (state.fullStatus) ready.add(printerId);
      const want = pending.get(printerId);
      if (want && state.temperatures?.bed?.target === want.value) {
        latencies.push(performance.now() - want.sentAt);
        pending.delete(printerId);
      }
    });
    await new Promise((r) => ws.once('open', r));
    const waitStart = Date.now();
    while (ready.size < n && Date.now() - waitStart < 120_000) await new Promise((r) => setTimeout(r, 200));
    console.log(`  ${ready.size}/${n} printers reported a full status after ${((Date.now() - tAdd) / 1000).toFixed(1)} s`);

    // Every printer prints: RUNNING makes the simulator report once a second.
    for (const s of sims) s.setState({ gcode_state: 'RUNNING', mc_percent: 1, mc_remaining_time: 90 } as any);
    await new Promise((r) => setTimeout(r, 3000));

    const startSample = procSample(child.pid!);
    const startEvents = events;
    const tMeasure = performance.now();
    let seq = 0;
    const rssPeak = { v: startSample.rssBytes };
    const probe = setInterval(() => {
      rssPeak.v = Math.max(rssPeak.v, procSample(child.pid!).rssBytes);
      // A few probes at a time on random printers: a bed target the simulator would never pick.
      for (let k = 0; k < 5; k++) {
        const s = sims[Math.floor(Math.random() * sims.length)]!;
        const id = idOf.get(s)!;
        if (pending.has(id)) continue;
        const value = 30 + (seq++ % 60);
        pending.set(id, { value, sentAt: performance.now() });
        s.setState({ bed_target_temper: value } as any);
      }
    }, 100);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    clearInterval(probe);
    const end = procSample(child.pid!);
    const wall = (performance.now() - tMeasure) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(`printers=${n} measured ${wall.toFixed(1)} s on ${os.cpus().length} cores`);
    console.log(`  server CPU: ${(((end.cpuSeconds - startSample.cpuSeconds) / wall) * 100).toFixed(0)} % of one core`);
    console.log(`  server RSS: ${mib(end.rssBytes)} (peak ${mib(rssPeak.v)})`);
    console.log(`  printer.state events at the WebSocket client: ${((events - startEvents) / wall).toFixed(0)} /s`);
    console.log(
      `  publish → WebSocket latency: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms (${latencies.length} samples, ${pending.size} unmatched)`,
    );
    ws.close();
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await Promise.all(sims.map((s) => s.stop()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
