/**
 * `npm run bench -- agent [--printers N] [--seconds S]`: the cost of the agent link per printer.
 * N simulated Bambu printers (their own process) print and report once a second to a real edge agent
 * (`rwc-agent`, its own process, the real Bambu driver), linked to a real server (its own process)
 * through a byte-counting TCP proxy. Measured twice over S seconds with the same printers printing:
 * linked, then with the link cut (the agent keeps running its printers). The difference in the
 * agent's CPU, and the bytes through the proxy, are the link's overhead.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpProxy } from '../packages/agent/test/tcp-proxy.ts';
import { procSample } from './_proc.ts';
import { api, arg } from './_cli.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

const firstMessage = <T>(child: ChildProcess, what: string) =>
  new Promise<T>((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}`)));
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(args: string[]): Promise<void> {
  const n = arg(args, 'printers', 10);
  const seconds = arg(args, 'seconds', 20);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-agent-'));
  const children: ChildProcess[] = [];
  let proxy: TcpProxy | null = null;
  try {
    const sims = fork(path.join(here, '_fleet-sims.ts'), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, BENCH_PRINTERS: String(n) } });
    children.push(sims);
    const { printers } = await firstMessage<{ printers: any[] }>(sims, 'simulators');
    const server = fork(path.join(here, '_agent-server.ts'), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, BENCH_DATA_DIR: path.join(tmp, 'server') } });
    children.push(server);
    const { url, mqttPort } = await firstMessage<{ url: string; mqttPort: number }>(server, 'server');
    await api(url, 'POST', '/api/v1/setup', { username: 'bench', password: 'bench-password' });
    const { accessToken } = await api(url, 'POST', '/api/v1/auth/login', { username: 'bench', password: 'bench-password' });
    const agentKey = await api(url, 'POST', '/api/v1/agents', { name: 'bench-site' }, accessToken);
    proxy = await TcpProxy.start(mqttPort);
    const config = {
      printers: printers.map((s, i) => ({
        id: `p${i + 1}`,
        name: s.serial,
        driver: 'bambu',
        model: s.model,
        connection: { host: s.host, serial: s.serial, accessCode: s.accessCode, mqttPort: s.ports.mqtt, ftpsPort: s.ports.ftps, cameraPort: s.ports.camera, caCertPem: s.caCertPem },
      })),
    };
    fs.writeFileSync(path.join(tmp, 'agent.json'), JSON.stringify(config));
    const agent = spawn(
      process.execPath,
      [
        path.join(root, 'packages/agent/bin/rwc-agent.mjs'),
        '--server',
        `mqtt://127.0.0.1:${proxy.port}`,
        '--http',
        url,
        '--id',
        agentKey.id,
        '--config',
        path.join(tmp, 'agent.json'),
        '--data-dir',
        path.join(tmp, 'agent'),
        '--log-level',
        'error',
      ],
      { env: { ...process.env, RWC_AGENT_KEY: agentKey.key }, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    children.push(agent);
    const t0 = Date.now();
    for (;;) {
      const list = await api(url, 'GET', `/api/v1/agents/${agentKey.id}`, undefined, accessToken);
      if (list.live && list.printers.length === n && list.printers.every((p: any) => p.status === 'idle')) break;
      if (Date.now() - t0 > 120_000) throw new Error(`agent printers not ready: ${JSON.stringify(list.printers.map((p: any) => p.status))}`);
      await sleep(500);
    }
    console.log(`agent bench: ${n} printers behind one agent, live on the server after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    sims.send({ type: 'printing' });
    // Something changes in every report, as on a printing machine: a temperature moves each second.
    let tick = 0;
    const wiggle = setInterval(() => {
      tick++;
      for (let i = 0; i < n; i++) sims.send({ type: 'probe', index: i, value: 40 + ((tick + i) % 20) });
    }, 1000);
    await sleep(4000);

    const measure = async () => {
      const a0 = procSample(agent.pid!);
      const s0 = procSample(server.pid!);
      const up0 = proxy!.bytesUp;
      const down0 = proxy!.bytesDown;
      const t = performance.now();
      await sleep(seconds * 1000);
      const wall = (performance.now() - t) / 1000;
      return {
        wall,
        agentCpu: (procSample(agent.pid!).cpuSeconds - a0.cpuSeconds) / wall,
        serverCpu: (procSample(server.pid!).cpuSeconds - s0.cpuSeconds) / wall,
        up: (proxy!.bytesUp - up0) / wall,
        down: (proxy!.bytesDown - down0) / wall,
      };
    };
    const linked = await measure();
    proxy.cut();
    await sleep(3000);
    const alone = await measure();
    clearInterval(wiggle);
    const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
    console.log(`measured ${linked.wall.toFixed(1)} s linked and ${alone.wall.toFixed(1)} s with the link cut, ${os.cpus().length} cores, printers reporting 1/s`);
    console.log(`  link traffic per printer: ${(linked.up / n).toFixed(0)} B/s agent → server, ${(linked.down / n).toFixed(0)} B/s server → agent (${((linked.up + linked.down) / 1024).toFixed(1)} KiB/s for the site)`);
    console.log(`  agent CPU: ${pct(linked.agentCpu)} of a core linked, ${pct(alone.agentCpu)} alone → link overhead ${pct((linked.agentCpu - alone.agentCpu) / n)} of a core per printer`);
    console.log(`  agent CPU for its printers alone: ${pct(alone.agentCpu / n)} of a core per printer`);
    console.log(`  server CPU: ${pct(linked.serverCpu / n)} of a core per agent printer linked (${pct(alone.serverCpu / n)} with the link cut)`);
  } finally {
    await proxy?.close();
    for (const c of children.reverse()) {
      if (c.exitCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      if (c.send && c.connected) c.send({ type: 'stop' });
      c.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
