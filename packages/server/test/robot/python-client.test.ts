/**
 * The seed's Python client: python-socketio (Debian's python3-socketio, for /usr/bin/python3) talks
 * to the /robot namespace over a real WebSocket, calls start and process, and receives pushes.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { type RobotTestServer, startRobotServer } from './helpers.ts';

const run = promisify(execFile);
let r: RobotTestServer;

beforeAll(async () => {
  r = await startRobotServer();
}, 60_000);
afterAll(async () => {
  await r?.s.destroy();
});

it('a python-socketio client runs the seed flow: start, process, pushes from a background thread', async () => {
  const script = path.join(import.meta.dirname, 'fixtures', 'python_client.py');
  const { stdout } = await run('/usr/bin/python3', [script, r.s.url, r.operator], { timeout: 90_000 });
  const seen = JSON.parse(stdout.trim().split('\n').at(-1)!);
  expect(seen.acks.start).toMatchObject({ status: 'success', message: 'Project started' });
  expect(seen.acks.StandUp).toEqual({ status: 'success', message: 'sport_client.StandUp done', data: { code: 0, mode: 'standing' } });
  expect(seen.acks.Move).toMatchObject({ status: 'success', data: { code: 0, vx: 0.2 } });
  expect(seen.acks.StopMove).toMatchObject({ status: 'success', data: { mode: 'standing' } });
  expect(seen.acks.StartPatrol).toMatchObject({ status: 'success', data: { message: 'patrol started' } });
  expect(seen.task_completed).toMatchObject({ task: 'patrol', legs: expect.any(Number) });
  expect(seen.telemetry).toBeGreaterThan(0);
  expect(seen.acks.GetState).toMatchObject({ status: 'success', data: { code: 0, state: { mode: 'standing', battery: expect.any(Number) } } });
  // The client disconnected: control is free again.
  await waitFor(async () => (await r.s.api('GET', '/api/v1/robot', { token: r.viewer })).body.controller === null, 'control released');
}, 120_000);
