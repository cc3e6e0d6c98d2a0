/**
 * `npm run bench -- fleet --printers N [--seconds S]`: N simulated Bambu printers (1 report/s while
 * printing) connected over TLS to one server process. Prints the server's CPU %, RSS, reports/s, and
 * the latency from a simulator publishing a report to the matching WebSocket event at a client.
 * Two tabs are open: a classic one (every `printer.state`) and a delta one (`?delta=1`, one
 * `printers.patch` a second); it prints the bytes/s per printer each receives, then silences the
 * printers and checks that the state the delta tab rebuilt equals, for every printer, what the
 * server shows and what the simulator last reported.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { applyPatch, jsonEqual } from '../packages/server/src/http/state-delta.ts';
import { mib, percentile, procSample } from './_proc.ts';
import { api, arg } from './_cli.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

interface SimInfo {
  serial: string;
  accessCode: string;
  host: string;
  model: string;
  ports: { mqtt: number; ftps: number; camera: number };
  caCertPem: string;
}

export async function run(args: string[]): Promise<void> {
  const n = arg(args, 'printers', 100);
  const seconds = arg(args, 'seconds', 20);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-fleet-'));
  const now = () => performance.timeOrigin + performance.now();
  const t0 = Date.now();
  console.log(`fleet bench: starting ${n} simulated Bambu printers…`);
  // Big fleets are spread over several simulator processes so the printers' side is not the bottleneck.
  const procCount = Math.max(1, arg(args, 'sim-procs', n > 500 ? 2 : 1));
  const per = Math.ceil(n / procCount);
  const simProcs = Array.from({ length: procCount }, (_, p) =>
    fork(path.join(here, '_fleet-sims.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_PRINTERS: String(Math.min(per, n - p * per)), BENCH_OFFSET: String(p * per) },
    }),
  );
  const parts = await Promise.all(
    simProcs.map(
      (proc) =>
        new Promise<SimInfo[]>((resolve, reject) => {
          proc.once('message', (m: any) => resolve(m.printers));
          proc.once('exit', (code) => reject(new Error(`simulators exited ${code}`)));
        }),
    ),
  );
  const printers = parts.flat();
  const procOf = (index: number) => ({ proc: simProcs[Math.floor(index / per)]!, local: index % per, base: Math.floor(index / per) * per });
  console.log(`  simulators up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const server = fork(path.join(here, '_fleet-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_DATA_DIR: dataDir },
  });
  const url = await new Promise<string>((resolve, reject) => {
    server.once('message', (m: any) => resolve(m.url));
    server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  try {
    await api(url, 'POST', '/api/v1/setup', { username: 'bench', password: 'bench-password' });
    const { accessToken } = await api(url, 'POST', '/api/v1/auth/login', { username: 'bench', password: 'bench-password' });
    const ids: string[] = new Array(printers.length);
    const tAdd = Date.now();
    for (let i = 0; i < printers.length; i += 50) {
      await Promise.all(
        printers.slice(i, i + 50).map(async (s, k) => {
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
          ids[i + k] = p.id;
        }),
      );
    }
    const indexOf = new Map(ids.map((id, i) => [id, i]));
    console.log(`  ${n} printers added in ${((Date.now() - tAdd) / 1000).toFixed(1)} s`);

    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/ws?token=${accessToken}`);
    const ready = new Set<string>();
    const pending = new Map<number, { value: number; sentAt: number | null; seenAt: number | null }>();
    const latencies: number[] = [];
    let events = 0;
    const settle = (index: number) => {
      const p = pending.get(index);
      if (p?.sentAt != null && p.seenAt != null) {
        latencies.push(p.seenAt - p.sentAt);
        pending.delete(index);
      }
    };
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
      const index = indexOf.get(printerId);
      const want = index === undefined ? undefined : pending.get(index);
      if (want && want.seenAt == null && state.temperatures?.bed?.target === want.value) {
        want.seenAt = now();
        settle(index!);
      }
    });
    simProcs.forEach((proc, p) => {
      proc.on('message', (m: any) => {
        if (m.type !== 'probe') return;
        const index = p * per + m.index;
        const want = pending.get(index);
        if (want && want.value === m.value) {
          want.sentAt = m.sentAt;
          settle(index);
        }
      });
    });
    await new Promise((r) => ws.once('open', r));
    // The delta tab: rebuilds every printer's state from the snapshot and the patches.
    const deltaWs = new WebSocket(`${url.replace('http', 'ws')}/api/v1/ws?token=${accessToken}&delta=1`);
    const rebuilt = new Map<string, unknown>();
    const bytes = { classic: 0, delta: 0, patches: 0 };
    ws.on('message', (raw) => {
      bytes.classic += (raw as Buffer).length;
    });
    deltaWs.on('message', (raw) => {
      bytes.delta += (raw as Buffer).length;
      const msg = JSON.parse(String(raw));
      if (msg.type === 'snapshot') for (const p of msg.data.printers) rebuilt.set(p.id, p.state);
      else if (msg.type === 'printers.patch') {
        bytes.patches++;
        for (const [id, patch] of Object.entries(msg.data)) rebuilt.set(id, applyPatch(rebuilt.get(id), patch));
      }
    });
    await new Promise((r) => deltaWs.once('open', r));
    const waitStart = Date.now();
    while (ready.size < n && Date.now() - waitStart < 180_000) await new Promise((r) => setTimeout(r, 200));
    console.log(`  ${ready.size}/${n} printers reported a full status after ${((Date.now() - tAdd) / 1000).toFixed(1)} s`);

    // Every printer prints: RUNNING makes the simulator report once a second.
    for (const proc of simProcs) proc.send({ type: 'printing' });
    await new Promise((r) => setTimeout(r, 3000));

    const startSample = procSample(server.pid!);
    const startEvents = events;
    const startBytes = { ...bytes };
    const tMeasure = performance.now();
    let seq = 0;
    const lastValue = new Map<number, number>();
    let rssPeak = startSample.rssBytes;
    const probe = setInterval(() => {
      rssPeak = Math.max(rssPeak, procSample(server.pid!).rssBytes);
      for (let k = 0; k < 5; k++) {
        const index = Math.floor(Math.random() * n);
        if (pending.has(index)) continue;
        // A value the printer already shows would publish nothing and be matched by its next
        // periodic report instead: always change it.
        let value = 30 + (seq++ % 60);
        if (lastValue.get(index) === value) value = 30 + (seq++ % 60);
        lastValue.set(index, value);
        pending.set(index, { value, sentAt: null, seenAt: null });
        const { proc, local } = procOf(index);
        proc.send({ type: 'probe', index: local, value });
      }
    }, 100);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    clearInterval(probe);
    const wall = (performance.now() - tMeasure) / 1000;
    const measured = { classic: bytes.classic - startBytes.classic, delta: bytes.delta - startBytes.delta, patches: bytes.patches - startBytes.patches };
    await new Promise((r) => setTimeout(r, 500));
    const end = procSample(server.pid!);
    latencies.sort((a, b) => a - b);
    console.log(`printers=${n} (${procCount} simulator processes) measured ${wall.toFixed(1)} s on ${os.cpus().length} cores`);
    console.log(`  server CPU: ${(((end.cpuSeconds - startSample.cpuSeconds) / wall) * 100).toFixed(0)} % of one core`);
    console.log(`  server RSS: ${mib(end.rssBytes)} (peak ${mib(rssPeak)})`);
    console.log(`  printer.state events at the WebSocket client: ${((events - startEvents) / wall).toFixed(0)} /s`);
    console.log(
      `  publish → WebSocket latency: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms (${latencies.length} samples, ${pending.size} unmatched)`,
    );
    const kbps = (b: number) => (b / wall / n / 1024).toFixed(3);
    console.log(`  bytes per printer per tab: classic ${kbps(measured.classic)} KB/s, delta ${kbps(measured.delta)} KB/s (${(measured.patches / wall).toFixed(2)} patches/s)`);

    // Silence every printer; once the last patch is out, the delta tab must show what they last said.
    await Promise.all(simProcs.map((proc) => new Promise((r) => {
      proc.once('message', r);
      proc.send({ type: 'silent' });
    })));
    await new Promise((r) => setTimeout(r, 3000));
    const dumps = await Promise.all(
      simProcs.map((proc) => new Promise<Array<{ serial: string; bedTarget: number; percent: number }>>((resolve) => {
        const on = (m: any) => {
          if (m.type !== 'dump') return;
          proc.off('message', on);
          resolve(m.printers);
        };
        proc.on('message', on);
        proc.send({ type: 'dump' });
      })),
    );
    const reported = new Map(dumps.flat().map((d) => [d.serial, d]));
    const shown = (await api(url, 'GET', '/api/v1/printers', undefined, accessToken)) as Array<{ id: string; name: string; state: any }>;
    let sameAsServer = 0;
    let sameAsPrinter = 0;
    for (const p of shown) {
      const mine = rebuilt.get(p.id) as any;
      if (jsonEqual(mine, p.state)) sameAsServer++;
      const r = reported.get(p.name);
      if (r && mine?.temperatures?.bed?.target === r.bedTarget && mine?.progress === r.percent) sameAsPrinter++;
    }
    const pct = (k: number) => ((k / shown.length) * 100).toFixed(1);
    console.log(
      `  delta tab rebuilt state = server's for ${sameAsServer}/${shown.length} (${pct(sameAsServer)} %), = printer's last report (bed target, progress) for ${sameAsPrinter}/${shown.length} (${pct(sameAsPrinter)} %)`,
    );
    deltaWs.close();
    ws.close();
  } finally {
    server.kill('SIGTERM');
    for (const proc of simProcs) proc.send({ type: 'stop' });
    await Promise.all([server, ...simProcs].map((c) => new Promise((r) => c.once('exit', r))));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
