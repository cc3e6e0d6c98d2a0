import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { tempDir } from '../helpers/server.ts';

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli.ts');

function runCli(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli], {
      env: { PATH: process.env.PATH, RWC_DEMO: '0', RWC_LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr });
    });
  });
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({}, tempDir());
    expect(c).toMatchObject({ port: 8080, host: '0.0.0.0', mqttPort: 1884, demo: null, databaseUrl: null });
  });

  it.each([
    [{ RWC_PORT: 'eighty' }, /RWC_PORT must be a whole number/],
    [{ RWC_PORT: '70000' }, /RWC_PORT must be a whole number from 0 to 65535/],
    [{ RWC_DEMO: 'maybe' }, /RWC_DEMO must be 1 or 0/],
    [{ RWC_DATABASE_URL: 'mysql://x' }, /RWC_DATABASE_URL must start with postgres/],
    [{ RWC_MQTT_PORT: '-1' }, /RWC_MQTT_PORT/],
  ])('refuses %o with a clear message', (env, message) => {
    expect(() => loadConfig(env, tempDir())).toThrow(ConfigError);
    expect(() => loadConfig(env, tempDir())).toThrow(message);
  });

  it('reads a config file, lets the environment win, and rejects unknown keys', async () => {
    const dir = tempDir();
    const fs = await import('node:fs');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ port: 9000, staleAfterSeconds: 30 }));
    expect(loadConfig({ RWC_DATA_DIR: dir }, '/')).toMatchObject({ port: 9000, staleAfterSeconds: 30 });
    expect(loadConfig({ RWC_DATA_DIR: dir, RWC_PORT: '9100' }, '/').port).toBe(9100);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ prot: 1 }));
    expect(() => loadConfig({ RWC_DATA_DIR: dir }, '/')).toThrow(/unknown setting "prot"/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{not json');
    expect(() => loadConfig({ RWC_DATA_DIR: dir }, '/')).toThrow(/not valid JSON/);
  });

  it('the server exits 1 with one clear line on a bad value', async () => {
    const r = await runCli({ RWC_PORT: 'abc', RWC_DATA_DIR: tempDir() });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^realworldclaw: RWC_PORT must be a whole number/);
  });

  it('shuts down cleanly on SIGTERM with exit 0', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const child = spawn(process.execPath, ['--import', 'tsx', cli], {
      env: { PATH: process.env.PATH, RWC_DEMO: '0', RWC_LOG_LEVEL: 'silent', RWC_PORT: String(port), RWC_HOST: '127.0.0.1', RWC_MQTT_PORT: '0', RWC_DATA_DIR: tempDir() },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let healthy = false;
    for (let i = 0; i < 200 && !healthy; i++) {
      healthy = await fetch(`http://127.0.0.1:${port}/api/v1/health`).then((r) => r.ok, () => false);
      if (!healthy) await new Promise((r) => setTimeout(r, 100));
    }
    expect(healthy).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('the server exits 1 with one clear line when its port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await runCli({ RWC_PORT: String(port), RWC_HOST: '127.0.0.1', RWC_MQTT_PORT: '0', RWC_DATA_DIR: tempDir() });
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`RWC_PORT ${port} is already in use`);
    } finally {
      blocker.close();
    }
  });
});
