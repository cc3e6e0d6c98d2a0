/**
 * The robot part inside the server's life: demo mode loads the default project at start (no client
 * needed), a normal start spawns no worker until one is needed, shutdown leaves no worker process
 * behind, `projects/default` survives updates, and the seed's config keys map to RWC_ROBOT_*.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { startTestServer, tempDir } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';
import { buildZip } from '../library/zip-writer.ts';
import { ask, connectRobot, processCall, projectZip, startRobotServer } from './helpers.ts';

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

describe('robot in the server lifecycle', () => {
  it('demo mode loads the default project at start; shutdown ends the worker', async () => {
    const s = await startTestServer({ config: { demo: true } });
    try {
      const worker = await waitFor(() => {
        const w = s.robot.runtime.supervisor.snapshot();
        return w.state === 'ready' && w;
      }, 'the demo robot loaded', 30_000);
      expect(s.robot.runtime.supervisor.loaded?.info).toMatchObject({ source: 'default', entry: 'main.py' });
      expect(s.robot.runtime.lock.holder).toBeNull(); // loaded without any client
      await s.stop();
      expect(gone(worker.pid!)).toBe(true);
    } finally {
      await s.destroy();
    }
  }, 60_000);

  it('a normal start spawns no worker until a client needs it', async () => {
    const r = await startRobotServer();
    try {
      expect(r.s.robot.runtime.supervisor.state).toBe('stopped');
      expect((await r.s.api('GET', '/api/v1/robot', { token: r.viewer })).body).toMatchObject({ worker: { state: 'stopped', pid: null }, methods: [], controller: null });
      const c = await connectRobot(r.s.url, { token: r.viewer });
      // A client connected: the worker starts in the background so the first call is instant.
      await waitFor(() => r.s.robot.runtime.supervisor.state === 'ready', 'warm-up on connect', 30_000);
      c.close();
    } finally {
      await r.s.destroy();
    }
  }, 60_000);

  it('takes a project bigger than Socket.IO’s default 1 MB message over the socket', async () => {
    const r = await startRobotServer();
    try {
      const c = await connectRobot(r.s.url, { token: r.operator });
      const model = crypto.randomBytes(3 * 1024 * 1024); // incompressible: the base64 message is ~4 MB
      const data = buildZip([
        { name: 'main.py', data: 'import os\nclass M:\n    def size(self):\n        return os.path.getsize("model.bin")\n\nm = M()\n' },
        { name: 'model.bin', data: model, method: 0 },
      ]).toString('base64');
      expect(data.length).toBeGreaterThan(4_000_000);
      expect(await ask(c, 'update', { data }, 120_000)).toMatchObject({ status: 'success' });
      expect((await processCall(c, 'm', 'size')).data).toBe(model.length);
      c.close();
    } finally {
      await r.s.destroy();
    }
  }, 120_000);

  it('update leaves projects/default untouched; an emptied current gets the default again', async () => {
    const r = await startRobotServer();
    try {
      const c = await connectRobot(r.s.url, { token: r.operator });
      const root = path.join(r.s.dataDir, 'robot', 'projects');
      const before = fs.readFileSync(path.join(root, 'default', 'main.py'), 'utf8');
      expect(await ask(c, 'update', { data: projectZip({ 'main.py': 'class T:\n    def ping(self):\n        return "pong"\n\nt = T()\n' }) })).toMatchObject({ status: 'success' });
      expect(fs.readFileSync(path.join(root, 'default', 'main.py'), 'utf8')).toBe(before);
      expect(fs.readFileSync(path.join(root, 'current', 'main.py'), 'utf8')).toContain('pong');
      c.close();
      await r.s.stop();
      // The seed's way back to the default: empty current and restart.
      fs.rmSync(path.join(root, 'current'), { recursive: true });
      const again = await r.s.restart();
      try {
        const login = await again.api('POST', '/api/v1/auth/login', { body: { username: 'olga', password: 'long-enough-pw' } });
        const c2 = await connectRobot(again.url, { token: login.body.accessToken });
        expect((await processCall(c2, 'sport_client', 'GetState')).status).toBe('success');
        c2.close();
      } finally {
        await again.destroy();
      }
    } finally {
      await r.s.destroy();
    }
  }, 90_000);
});

describe('robot configuration (seed 003 config.yaml keys)', () => {
  it('reads RWC_ROBOT_* variables and refuses bad values with one clear line', () => {
    const dir = tempDir();
    const c = loadConfig(
      {
        RWC_DATA_DIR: dir,
        RWC_ROBOT_MAX_PROJECT_BYTES: '1048576',
        RWC_ROBOT_MAX_EXECUTION_TIME: '60',
        RWC_ROBOT_STORAGE_DIR: 'robot-store',
        RWC_ROBOT_DEADMAN_MS: '300',
        RWC_ROBOT_PIP_ARGS: '--no-index --find-links /wheels',
      },
      dir,
    );
    expect(c).toMatchObject({
      robotMaxProjectBytes: 1048576,
      robotMaxExecutionSeconds: 60,
      robotStorageDir: path.join(dir, 'robot-store'),
      robotDeadmanMs: 300,
      robotPipArgs: '--no-index --find-links /wheels',
      robotPython: 'python3',
      robotStopTimeoutSeconds: 3,
    });
    expect(() => loadConfig({ RWC_DATA_DIR: dir, RWC_ROBOT_MAX_EXECUTION_TIME: '0' }, dir)).toThrow(ConfigError);
    expect(() => loadConfig({ RWC_DATA_DIR: dir, RWC_ROBOT_DEADMAN_MS: 'soon' }, dir)).toThrow(/RWC_ROBOT_DEADMAN_MS must be a whole number/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a missing interpreter is reported once, clearly, not retried in a loop', async () => {
    const r = await startRobotServer({ robotPython: '/nonexistent/python3' });
    try {
      const c = await connectRobot(r.s.url, { token: r.operator });
      const ack = await processCall(c, 'sport_client', 'GetState');
      expect(ack).toMatchObject({ status: 'error', data: { code: 'worker_failed' }, message: expect.stringMatching(/ENOENT.*send start or update/) });
      expect((await r.s.api('GET', '/api/v1/robot', { token: r.viewer })).body.worker).toMatchObject({ state: 'failed', lastError: { message: expect.stringMatching(/ENOENT/) } });
      c.close();
    } finally {
      await r.s.destroy();
    }
  }, 60_000);
});
