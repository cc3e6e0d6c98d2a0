/**
 * requirements.txt: reported after update, installed only when an admin asks, into a per-project
 * venv. PyPI is unreachable here, so the install runs pip with the admin's `--no-index
 * --find-links <dir>` against a wheel this test builds; the refusal (pip options in the file) and
 * failure (package not found) paths are tested too.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { tempDir } from '../helpers/server.ts';
import { buildZip } from '../library/zip-writer.ts';
import { type RobotTestServer, ask, connectRobot, processCall, projectZip, startRobotServer } from './helpers.ts';
import { waitFor } from '../helpers/wait.ts';

/** A minimal pure-Python wheel (PEP 427): package files, METADATA, WHEEL and a RECORD with hashes. */
function buildWheel(dir: string): void {
  const files: Record<string, string> = {
    'rwc_demo_pkg/__init__.py': 'ANSWER = 42\n',
    'rwc_demo_pkg-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: rwc-demo-pkg\nVersion: 1.0\n',
    'rwc_demo_pkg-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\nGenerator: rwc-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  const record = Object.entries(files).map(([name, data]) => {
    const hash = crypto.createHash('sha256').update(data).digest('base64url');
    return `${name},sha256=${hash},${Buffer.byteLength(data)}`;
  });
  files['rwc_demo_pkg-1.0.dist-info/RECORD'] = `${[...record, 'rwc_demo_pkg-1.0.dist-info/RECORD,,'].join('\n')}\n`;
  fs.writeFileSync(path.join(dir, 'rwc_demo_pkg-1.0-py3-none-any.whl'), buildZip(Object.entries(files).map(([name, data]) => ({ name, data }))));
}

const MAIN = `
import rwc_demo_pkg

class Brain:
    def answer(self):
        return rwc_demo_pkg.ANSWER

brain = Brain()
`;

let r: RobotTestServer;
let c: Socket;
const wheels = tempDir('rwc-wheels-');

beforeAll(async () => {
  buildWheel(wheels);
  r = await startRobotServer({ robotPython: '/usr/bin/python3', robotPipArgs: `--no-index --find-links ${wheels}` });
  c = await connectRobot(r.s.url, { token: r.operator });
}, 60_000);
afterAll(async () => {
  c?.close();
  await r?.s.destroy();
  fs.rmSync(wheels, { recursive: true, force: true });
});

const install = (token: string) => r.s.api('POST', '/api/v1/robot/requirements', { token });

it('reports requirements after update and installs them only for an admin, into the project venv', async () => {
  const updated = await ask(c, 'update', { data: projectZip({ 'main.py': MAIN, 'requirements.txt': 'rwc-demo-pkg==1.0\n' }) });
  expect(updated).toMatchObject({
    status: 'error',
    data: { code: 'load_failed', project: { requirements: { packages: ['rwc-demo-pkg==1.0'], refused: [], installed: false } } },
  });
  expect(updated.message).toMatch(/No module named 'rwc_demo_pkg'.*an admin can install them/);

  expect((await install(r.operator)).status).toBe(403);
  const done = await install(r.admin);
  expect(done.status).toBe(200);
  expect(done.body).toMatchObject({ installed: true, packages: ['rwc-demo-pkg==1.0'], loadError: null, project: { requirements: { installed: true } } });
  expect(fs.existsSync(path.join(done.body.venv, 'bin', 'python'))).toBe(true);
  expect(done.body.venv.startsWith(path.join(r.s.dataDir, 'robot', 'venvs'))).toBe(true);

  expect(await processCall(c, 'brain', 'answer')).toMatchObject({ status: 'success', data: 42 });
  // The system Python does not have the package: the worker really runs in the venv.
  expect(() => execFileSync('/usr/bin/python3', ['-c', 'import rwc_demo_pkg'], { stdio: 'ignore' })).toThrow();
}, 180_000);

it('refuses pip options and URLs in requirements.txt, naming the line', async () => {
  await ask(c, 'update', { data: projectZip({ 'main.py': 'x = 1\n', 'requirements.txt': 'rwc-demo-pkg\n--extra-index-url https://evil.example/simple\n' }) });
  const refused = await install(r.admin);
  expect(refused.status).toBe(400);
  expect(refused.body.error).toMatchObject({ code: 'requirements_refused', message: expect.stringMatching(/--extra-index-url https:\/\/evil.example\/simple.*not allowed/) });
});

it('reports a failed install with pip’s words and leaves no half-made venv', async () => {
  await ask(c, 'update', { data: projectZip({ 'main.py': 'x = 1\n', 'requirements.txt': 'rwc-missing-pkg==9.9\n' }) });
  const failed = await install(r.admin);
  expect(failed.status).toBe(503);
  expect(failed.body.error).toMatchObject({ code: 'requirements_install_failed', message: expect.stringMatching(/rwc-missing-pkg/) });
  const venvs = fs.readdirSync(path.join(r.s.dataDir, 'robot', 'venvs'));
  expect(venvs.length).toBe(1); // only the good one from the first test
  expect((await install(r.admin)).status).toBe(503); // and it can be retried
}, 180_000);

it('a project without requirements.txt has nothing to install', async () => {
  await ask(c, 'update', { data: buildZip([{ name: 'main.py', data: 'x = 1\n' }]).toString('base64') });
  const none = await install(r.admin);
  expect(none.status).toBe(400);
  expect(none.body.error.code).toBe('no_requirements');
  // The refusal is not logged as an install: the next update's line arrives, no "started" before it.
  const lines: string[] = [];
  c.on('robot.log', (p: { lines: Array<{ line: string }> }) => lines.push(...p.lines.map((l) => l.line)));
  await ask(c, 'update', { data: buildZip([{ name: 'main.py', data: 'x = 2\n' }]).toString('base64') });
  await waitFor(() => lines.some((l) => l.startsWith('update by')), 'the update log line');
  expect(lines.filter((l) => l.includes('requirements install started'))).toEqual([]);
});
