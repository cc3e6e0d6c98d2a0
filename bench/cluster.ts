/**
 * `npm run bench -- cluster [--printers N] [--seconds S] [--lease L] [--agent-printers M]`: scale-out
 * on the real PostgreSQL (127.0.0.1:5432). N simulated Bambu printers (their own process, printing,
 * 1 report/s) shared by 1, 2 and 3 server processes (the CLI, one database and data dir each round):
 * printers per process, each process's CPU, and the printer.state events a WebSocket client on the
 * first process receives (its own printers plus everyone else's, through LISTEN/NOTIFY). Then kill -9
 * of the process running the most printers: time until every printer is leased by a live process,
 * and until every printer reports through its new owner (goal: within 2 × the lease). Last, the
 * agent link overhead per printer (bench/agent.ts with M printers). `--processes K` runs only K.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import WebSocket from 'ws';
import { ChildServer } from '../packages/server/test/e2e/child-server.ts';
import { createTempDatabase } from '../packages/server/test/helpers/pg.ts';
import { procSample } from './_proc.ts';
import { arg } from './_cli.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => Promise<T | false | null | undefined>, what: string, ms = 180_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

type ClusterView = { processes: { id: string; printers: number; alive: boolean }[]; leaseSeconds: number };

async function leaseRows(url: string): Promise<{ printer_id: string; process_id: string }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT printer_id, process_id FROM printer_leases')).rows;
  } finally {
    await client.end();
  }
}

export async function run(args: string[]): Promise<void> {
  const n = arg(args, 'printers', 30);
  const seconds = arg(args, 'seconds', 10);
  const lease = arg(args, 'lease', 5);
  const only = arg(args, 'processes', 0);
  const agentPrinters = arg(args, 'agent-printers', 5);
  console.log(`cluster bench: ${n} simulated Bambu printers, lease ${lease} s, ${os.cpus().length} cores`);
  for (const k of only ? [only] : [1, 2, 3]) {
    // Fresh simulators each round: a simulated print runs its course, and a printer that has
    // finished reports less often, which would skew the later rounds.
    const sims = fork(path.join(here, '_fleet-sims.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, BENCH_PRINTERS: String(n) },
    });
    const printers = await new Promise<any[]>((resolve, reject) => {
      sims.once('message', (m: any) => resolve(m.printers));
      sims.once('exit', (code) => reject(new Error(`simulators exited ${code}`)));
    });
    try {
      const db = await createTempDatabase();
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-cluster-'));
      const servers = Array.from(
        { length: k },
        () => new ChildServer(dataDir, { RWC_DATABASE_URL: db.url, RWC_LEASE_SECONDS: String(lease) }),
      );
      let ws: WebSocket | null = null;
      try {
        await Promise.all(servers.map((s) => s.start()));
        await servers[0]!.setupAdmin();
        for (const s of servers) s.token = servers[0]!.token;
        const tAdd = Date.now();
        for (let i = 0; i < printers.length; i += 10) {
          await Promise.all(
            printers.slice(i, i + 10).map(async (s, j) => {
              const res = await servers[(i + j) % k]!.api('POST', '/api/v1/printers', {
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
              });
              if (res.status !== 201) throw new Error(`add printer: ${res.status} ${JSON.stringify(res.body)}`);
            }),
          );
        }
        const first = servers[0]!;
        const view = await until(async () => {
          const v = (await first.api('GET', '/api/v1/cluster')).body as ClusterView;
          return v.processes.reduce((t, p) => t + p.printers, 0) === n && v;
        }, 'all printers leased');
        await until(async () => {
          const list = (await first.api('GET', '/api/v1/printers')).body as any[];
          return list.length === n && list.every((p) => p.state.fullStatus);
        }, 'every printer reporting');
        console.log(
          `\n${k} process${k > 1 ? 'es' : ''}: ${n} printers leased and reporting ${((Date.now() - tAdd) / 1000).toFixed(1)} s after the first add`,
        );
        sims.send({ type: 'printing' });
        await sleep(3000);
        let events = 0;
        const perPrinter = new Map<string, number>();
        ws = new WebSocket(`${first.url.replace('http', 'ws')}/api/v1/ws?token=${first.token}`);
        ws.on('message', (raw) => {
          const msg = JSON.parse(String(raw));
          if (msg.type !== 'printer.state') return;
          events++;
          perPrinter.set(msg.data.printerId, (perPrinter.get(msg.data.printerId) ?? 0) + 1);
        });
        await new Promise((r) => ws!.once('open', r));
        await sleep(1000);
        const pids = servers.map((s) => s.pid!);
        const before = pids.map((pid) => procSample(pid));
        const e0 = events;
        perPrinter.clear();
        const t0 = performance.now();
        await sleep(seconds * 1000);
        const wall = (performance.now() - t0) / 1000;
        const after = pids.map((pid) => procSample(pid));
        const rows = view.processes.map((p) => p.printers);
        const cpu = after.map((a, i) => ((a.cpuSeconds - before[i]!.cpuSeconds) / wall) * 100);
        console.log(`  printers per process: ${rows.join(' / ')}`);
        console.log(
          `  CPU per process: ${cpu.map((c) => `${c.toFixed(0)} %`).join(' / ')} of one core (total ${cpu.reduce((a, b) => a + b, 0).toFixed(0)} %)`,
        );
        console.log(`  RSS per process: ${after.map((a) => `${(a.rssBytes / 1048576).toFixed(0)} MiB`).join(' / ')}`);
        const firstId = view.processes.find((p) => p.id.startsWith(`${first.pid}-`))?.id;
        const owners = new Map((await leaseRows(db.url)).map((r) => [r.printer_id, r.process_id]));
        const rate = (local: boolean) => {
          let sum = 0;
          for (const [id, c] of perPrinter) if ((owners.get(id) === firstId) === local) sum += c;
          return (sum / wall).toFixed(1);
        };
        console.log(
          `  printer.state events at a WebSocket on process 1: ${((events - e0) / wall).toFixed(1)} /s from ${perPrinter.size}/${n} printers (its own: ${rate(true)} /s, other processes' through LISTEN/NOTIFY: ${rate(false)} /s)`,
        );

        if (k > 1) {
          const byId = new Map(view.processes.map((p) => [p.id, p.printers]));
          const victimId = [...byId].sort((a, b) => b[1] - a[1])[0]![0];
          const victim = servers.find((s) => victimId.startsWith(`${s.pid}-`))!;
          const survivor = servers.find((s) => s !== victim)!;
          const orphans = byId.get(victimId)!;
          const tKill = performance.now();
          await victim.kill9();
          await until(async () => {
            const v = (await survivor.api('GET', '/api/v1/cluster')).body as ClusterView;
            return (
              v.processes.filter((p) => p.alive).reduce((t, p) => t + p.printers, 0) === n &&
              !v.processes.find((p) => p.id === victimId)?.alive
            );
          }, 'printers taken over');
          const leased = (performance.now() - tKill) / 1000;
          // Reporting again: the survivor's own drivers now run every printer; a report younger than
          // the kill from each printer proves the new owner's driver is connected.
          const killedAt = Date.now() - leased * 1000;
          await until(async () => {
            const list = (await survivor.api('GET', '/api/v1/printers')).body as any[];
            return list.every((p) => p.state.fullStatus && Date.parse(p.state.updatedAt ?? '') > killedAt + 500);
          }, 'printers reporting through their new owners');
          const reporting = (performance.now() - tKill) / 1000;
          console.log(
            `  kill -9 of the process running ${orphans} printers: all leased by live processes after ${leased.toFixed(1)} s, all reporting after ${reporting.toFixed(1)} s (${(reporting / lease).toFixed(2)} × lease; goal < 2)`,
          );
        }
      } finally {
        ws?.close();
        for (const s of servers) await s.kill9();
        await db.drop().catch(() => {});
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    } finally {
      sims.send({ type: 'stop' });
      await new Promise((r) => sims.once('exit', r));
    }
  }
  if (agentPrinters > 0) {
    console.log(`\nagent link overhead (bench/agent.ts, ${agentPrinters} printers):`);
    const agent = (await import('./agent.ts')) as { run(args: string[]): Promise<void> };
    await agent.run(['--printers', String(agentPrinters), '--seconds', String(seconds)]);
  }
}
