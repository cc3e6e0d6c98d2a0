import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { setupAdmin, startTestServer, tempDir } from '../../server/test/helpers/server.ts';
import { waitFor } from '../../server/test/helpers/wait.ts';
import { parseCli } from '../src/cli.ts';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/rwc-agent.mjs');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('rwc-agent command line', () => {
  it('needs a broker URL and a key, and says so in one line', () => {
    const cwd = tempDir();
    dirs.push(cwd);
    expect(() => parseCli([], {}, cwd)).toThrow(/--server must be mqtt:\/\/host:port/);
    expect(() => parseCli(['--server', 'http://x'], {}, cwd)).toThrow(/--server must be/);
    expect(() => parseCli(['--server', 'mqtt://x:1884'], {}, cwd)).toThrow(/--key \(or RWC_AGENT_KEY\) is required/);
    expect(() => parseCli(['--server', 'mqtt://x:1884', '--key', 'k', '--bogus'], {}, cwd)).toThrow(/Unknown option '--bogus'/);
    expect(() => parseCli(['--server', 'mqtt://x:1884', '--key', 'k', '--config', 'missing.json'], {}, cwd)).toThrow(/does not exist/);
  });

  it('reads agent.json, checks each printer, and adds simulated ones', () => {
    const cwd = tempDir();
    dirs.push(cwd);
    fs.writeFileSync(path.join(cwd, 'agent.json'), JSON.stringify({ printers: [{ id: 'm1', name: 'Ender', driver: 'marlin', connection: { path: '/dev/ttyUSB0' } }] }));
    const cfg = parseCli(['--server', 'mqtts://broker:8883', '--simulate', 'simulated-bambu:2'], { RWC_AGENT_KEY: 'rwc_x' }, cwd);
    expect(cfg).toMatchObject({ server: 'mqtts://broker:8883', key: 'rwc_x', dataDir: path.join(cwd, 'agent-data') });
    expect(cfg.printers.map((p) => [p.id, p.driver])).toEqual([
      ['m1', 'marlin'],
      ['sim-bambu-2', 'simulated-bambu'],
      ['sim-bambu-3', 'simulated-bambu'],
    ]);
    fs.writeFileSync(path.join(cwd, 'bad.json'), JSON.stringify({ printers: [{ id: 'a', name: 'A', driver: 'bambu', connection: { host: '1.2.3.4' } }] }));
    expect(() => parseCli(['--server', 'mqtt://x:1', '--key', 'k', '--config', 'bad.json'], {}, cwd)).toThrow(/bad\.json: printers\[0\]: connection\.serial/);
    fs.writeFileSync(path.join(cwd, 'dup.json'), JSON.stringify({ printers: [{ id: 'a', name: 'A', driver: 'agent', connection: {} }] }));
    expect(() => parseCli(['--server', 'mqtt://x:1', '--key', 'k', '--config', 'dup.json'], {}, cwd)).toThrow(/driver must be one of bambu/);
  });
});

describe('rwc-agent as a process', () => {
  it('links with --simulate, its printer joins the fleet, and SIGTERM stops it cleanly', async () => {
    const server = await startTestServer();
    const cwd = tempDir();
    dirs.push(cwd);
    try {
      const { accessToken } = await setupAdmin(server);
      const agent = (await server.api('POST', '/api/v1/agents', { token: accessToken, body: { name: 'cli-site' } })).body;
      const child = spawn(process.execPath, [bin, '--server', `mqtt://127.0.0.1:${server.broker!.port}`, '--http', server.url, '--simulate', 'simulated-marlin', '--log-level', 'silent'], {
        cwd,
        env: { PATH: process.env.PATH, RWC_AGENT_KEY: agent.key },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const printer = await waitFor(
        async () => {
          const r = await server.api('GET', `/api/v1/agents/${agent.id}`, { token: accessToken });
          return r.body.live && r.body.printers[0]?.status === 'idle' && r.body.printers[0];
        },
        'the agent process linked with an idle simulated printer',
        60_000,
      );
      expect(printer).toMatchObject({ agentPrinterId: 'sim-marlin-1', driver: 'simulated-marlin' });
      // It asked the server who it is (no --id) and remembered it.
      expect(JSON.parse(fs.readFileSync(path.join(cwd, 'agent-data', 'identity.json'), 'utf8')).agentId).toBe(agent.id);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
      await waitFor(async () => !(await server.api('GET', `/api/v1/agents/${agent.id}`, { token: accessToken })).body.online, 'offline after the clean stop');
    } finally {
      await server.destroy();
    }
  }, 120_000);
});
