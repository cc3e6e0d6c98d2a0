/**
 * Seed 003's protocol over real sockets (socket.io-client → the server's HTTP port → a real worker
 * process): update/start/process round trips with Python, JavaScript and TypeScript projects, the
 * default project without any update, push_message from a background thread, errors with their
 * traceback, the HTTP upload path for big projects, and GET /api/v1/robot.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { buildZip } from '../library/zip-writer.ts';
import { type RobotTestServer, ask, collect, connectRobot, processCall, projectZip, startRobotServer } from './helpers.ts';

let r: RobotTestServer;
const open: Socket[] = [];
const connect = async (opts: Parameters<typeof connectRobot>[1]) => {
  const s = await connectRobot(r.s.url, opts);
  open.push(s);
  return s;
};

beforeAll(async () => {
  // A loaded CI machine can take seconds to schedule a Python worker: stop() gets room to answer.
  r = await startRobotServer({ robotMaxProjectBytes: 256 * 1024, robotStopTimeoutSeconds: 15 });
}, 60_000);
afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  // Control is freed (and stop() has run) before the next test connects.
  await waitFor(async () => (await r.s.api('GET', '/api/v1/robot', { token: r.admin })).body.controller === null, 'control released');
});
afterAll(async () => {
  await r?.s.destroy();
});

const PY_PROJECT = `
import threading, time
push_message = None  # seed 003 style: the framework fills it in

class RobotController:
    def __init__(self):
        self.mode = "idle"
        self.stopped = 0

    def prepare_mode(self):
        """Quick synchronous operation."""
        self.mode = "prepare"
        return {"status": "success", "message": "prepare mode on", "mode": self.mode}

    def get_status(self):
        return {"mode": self.mode, "battery": 85, "stopped": self.stopped}

    def add(self, a, b=10):
        return a + b

    def start_long_task(self, seconds=0.2):
        threading.Thread(target=self._work, args=(seconds,), daemon=True).start()
        return {"status": "success", "message": "task started"}

    def _work(self, seconds):
        time.sleep(seconds)
        if push_message:
            push_message("task_completed", {"result": "done", "thread": threading.current_thread().name})

    def boom(self):
        return 1 / 0

    def stop(self):
        self.stopped += 1

robot_controller = RobotController()

def hello(name="world"):
    return "hello " + name
`;

describe('update / start / process', () => {
  it('process before any update or start loads the default project (the simulated quadruped)', async () => {
    const c = await connect({ token: r.operator });
    const state = await processCall(c, 'sport_client', 'GetState');
    expect(state).toMatchObject({ status: 'success', data: { code: 0, state: { mode: expect.any(String), battery: expect.any(Number) } } });
    const status = (await r.s.api('GET', '/api/v1/robot', { token: r.viewer })).body;
    expect(status.project).toMatchObject({ source: 'default', language: 'python', entry: 'main.py' });
    const names = status.methods.filter((m: any) => m.object === 'sport_client').map((m: any) => m.name);
    expect(names).toEqual(expect.arrayContaining(['StandUp', 'StandDown', 'Move', 'StopMove', 'Damp', 'GetState']));
    expect(status.methods.find((m: any) => m.name === 'Move')).toMatchObject({ motion: true, params: [{ name: 'vx' }, { name: 'vy' }, { name: 'vyaw' }] });
    expect(status.worker).toMatchObject({ state: 'ready', pid: expect.any(Number), runtime: { runtime: 'python' } });
  });

  it('update with a base64 ZIP, then start, then process: the seed round trip', async () => {
    const c = await connect({ token: r.operator });
    const updated = await ask(c, 'update', { data: projectZip({ 'main.py': PY_PROJECT }) });
    expect(updated).toMatchObject({ status: 'success', data: { project: { source: 'upload', language: 'python' } } });
    expect(updated.data.methods.map((m: any) => `${m.object}.${m.name}`)).toEqual(
      expect.arrayContaining(['robot_controller.prepare_mode', 'robot_controller.get_status', '.hello']),
    );
    // Private methods are not part of the API.
    expect(updated.data.methods.some((m: any) => m.name.startsWith('_'))).toBe(false);
    const started = await ask(c, 'start', {});
    expect(started).toMatchObject({ status: 'success', message: 'Project started' });

    expect(await processCall(c, 'robot_controller', 'prepare_mode')).toEqual({
      status: 'success',
      message: 'robot_controller.prepare_mode done',
      data: { status: 'success', message: 'prepare mode on', mode: 'prepare' },
    });
    expect((await processCall(c, 'robot_controller', 'get_status')).data).toMatchObject({ mode: 'prepare', battery: 85 });
    expect((await processCall(c, 'robot_controller', 'add', { a: 2 })).data).toBe(12);
    expect((await processCall(c, 'robot_controller', 'add', [2, 3])).data).toBe(5);
    expect((await processCall(c, '', 'hello', { name: 'robot' })).data).toBe('hello robot');
  });

  it('accepts zip_data (the seed uses both names) and binary data; a bad payload is refused', async () => {
    const c = await connect({ token: r.operator });
    const v2 = PY_PROJECT.replace('"battery": 85', '"battery": 42');
    expect(await ask(c, 'update', { zip_data: projectZip({ 'main.py': v2 }) })).toMatchObject({ status: 'success' });
    expect((await processCall(c, 'robot_controller', 'get_status')).data.battery).toBe(42);
    const binary = buildZip([{ name: 'main.py', data: PY_PROJECT.replace('"battery": 85', '"battery": 7') }]);
    expect(await ask(c, 'update', { data: binary })).toMatchObject({ status: 'success' });
    expect((await processCall(c, 'robot_controller', 'get_status')).data.battery).toBe(7);

    expect(await ask(c, 'update', {})).toMatchObject({ status: 'error', data: { code: 'validation_error' }, message: expect.stringMatching(/base64/) });
    expect(await ask(c, 'update', { data: 'not base64 at all!' })).toMatchObject({ status: 'error', message: expect.stringMatching(/not base64/) });
    expect(await ask(c, 'update', { data: Buffer.from('PK garbage').toString('base64') })).toMatchObject({
      status: 'error',
      data: { code: 'invalid_project' },
    });
    expect(await ask(c, 'update', { data: 'A'.repeat(400 * 1024) })).toMatchObject({ status: 'error', data: { code: 'too_large' } });
    // The refusals left the last good project running.
    expect((await processCall(c, 'robot_controller', 'get_status')).data.battery).toBe(7);
    // Back to the default project without a ZIP at hand (seed 003 恢复默认项目).
    expect(await ask(c, 'update', { projectId: 'default' })).toMatchObject({ status: 'success', data: { project: { source: 'default' } } });
    expect(await processCall(c, 'sport_client', 'GetState')).toMatchObject({ status: 'success', data: { code: 0 } });
  });

  it('push_message from a background thread reaches the client as an event of that name', async () => {
    const c = await connect({ token: r.operator });
    await ask(c, 'update', { data: projectZip({ 'main.py': PY_PROJECT }) });
    const done = collect(c, 'task_completed');
    expect(await processCall(c, 'robot_controller', 'start_long_task', { seconds: 0.2 })).toMatchObject({
      status: 'success',
      data: { message: 'task started' },
    });
    await waitFor(() => done.length > 0, 'task_completed push');
    expect(done[0].result).toBe('done');
    expect(done[0].thread).not.toBe('MainThread');
  });

  it('an exception answers status error with its traceback; bad params name the field', async () => {
    const c = await connect({ token: r.operator });
    await ask(c, 'update', { data: projectZip({ 'main.py': PY_PROJECT }) });
    const failed = await processCall(c, 'robot_controller', 'boom');
    expect(failed).toMatchObject({ status: 'error', message: 'robot_controller.boom raised ZeroDivisionError: division by zero', data: { code: 'exception' } });
    expect(failed.data.traceback).toMatch(/Traceback[\s\S]*main\.py[\s\S]*in boom/);
    expect(failed.data.traceback).not.toMatch(/runner\.py/); // the project's frames, not the worker's
    expect(await processCall(c, 'robot_controller', 'nope')).toMatchObject({ status: 'error', data: { code: 'not_found' }, message: expect.stringMatching(/robot_controller.nope/) });
    expect(await processCall(c, 'ghost', 'x')).toMatchObject({ status: 'error', message: expect.stringMatching(/no object 'ghost'.*robot_controller/) });
    expect(await processCall(c, 'robot_controller', '_work', {})).toMatchObject({ status: 'error', message: expect.stringMatching(/private/) });
    expect(await processCall(c, 'robot_controller', 'add', { x: 1 })).toMatchObject({ status: 'error', message: expect.stringMatching(/unexpected keyword argument 'x'/) });
    expect(await ask(c, 'process', {})).toMatchObject({ status: 'error', message: 'process needs {params: {object, method, args}}' });
    expect(await ask(c, 'process', { params: { object: 'robot_controller' } })).toMatchObject({ status: 'error', message: 'params.method must be a non-empty string' });
    expect(await ask(c, 'process', { params: { object: 'robot_controller', method: 'add', args: 5 } })).toMatchObject({ status: 'error', message: expect.stringMatching(/params.args must be/) });
    // Still alive and well.
    expect((await processCall(c, 'robot_controller', 'add', { a: 1, b: 1 })).data).toBe(2);
  });

  it('a project whose import fails answers the traceback and stays replaceable', async () => {
    const c = await connect({ token: r.operator });
    const bad = await ask(c, 'update', { data: projectZip({ 'main.py': 'import json\nraise RuntimeError("no robot found on eth0")\n' }) });
    expect(bad).toMatchObject({ status: 'error', data: { code: 'load_failed' }, message: expect.stringMatching(/did not load.*no robot found on eth0/) });
    expect(bad.data.traceback).toMatch(/RuntimeError: no robot found on eth0/);
    expect(await processCall(c, 'robot_controller', 'get_status')).toMatchObject({ status: 'error', data: { code: 'load_failed' } });
    expect(await ask(c, 'update', { data: projectZip({ 'main.py': PY_PROJECT }) })).toMatchObject({ status: 'success' });
    expect((await processCall(c, 'robot_controller', 'get_status')).status).toBe('success');
  });
});

describe('stop() and the log', () => {
  it('runs a module-level stop() (seed 003 way 2) on e-stop and on disconnect', async () => {
    const watcher = await connect({ token: r.viewer });
    const stopped = collect(watcher, 'robot.stopped');
    const c = await connect({ token: r.operator });
    const project = `
import threading
running = {"flag": False, "stops": 0}

class Recognizer:
    def start_recognition(self):
        running["flag"] = True
        return running

recognizer = Recognizer()

def stop():
    running["flag"] = False
    running["stops"] += 1
`;
    expect(await ask(c, 'update', { data: projectZip({ 'main.py': project }) })).toMatchObject({ status: 'success', data: { methods: expect.arrayContaining([{ object: '', name: 'stop', params: [], motion: false, doc: null }]) } });
    await processCall(c, 'recognizer', 'start_recognition');
    expect(await ask(c, 'estop')).toMatchObject({ status: 'success', data: { outcome: 'stopped', ran: ['stop'] } });
    expect((await processCall(c, 'recognizer', 'start_recognition')).data).toEqual({ flag: true, stops: 1 });
    // Only the stop() of this disconnect (the last test's may still be reported: control is free first).
    const before = stopped.length;
    c.close();
    await waitFor(() => stopped.slice(before).find((s) => s.reason === 'disconnect'), 'stop() after the disconnect');
    const afterDisconnect = stopped.slice(before).find((s) => s.reason === 'disconnect');
    expect(afterDisconnect, JSON.stringify(afterDisconnect)).toMatchObject({ outcome: 'stopped', ran: ['stop'] });
  });

  it("the next controller's commands wait for the previous controller's disconnect stop()", async () => {
    const a = await connect({ token: r.operator });
    const project = `
import time
log = []

def stop():
    time.sleep(0.8)
    log.append("stopped")

def seen():
    return list(log)
`;
    expect(await ask(a, 'update', { data: projectZip({ 'main.py': project }) })).toMatchObject({ status: 'success' });
    a.close();
    // Control is free at once (a reconnect is not refused) while stop() still runs.
    await waitFor(async () => (await r.s.api('GET', '/api/v1/robot', { token: r.admin })).body.controller === null, 'control released');
    const b = await connect({ token: r.operator });
    // Run after stop(), never beside it (a late stop() would halt the new controller's motion).
    expect((await processCall(b, '', 'seen')).data).toEqual(['stopped']);
  });

  it("sends the project's stdout and stderr to the log as events", async () => {
    const c = await connect({ token: r.operator });
    const logs: Array<{ stream: string; line: string }> = [];
    c.on('robot.log', (p: { lines: Array<{ stream: string; line: string }> }) => logs.push(...p.lines));
    const project = `
import sys
print("loading the talker")

class Talker:
    def talk(self, words):
        print("said:", words)
        print("oops:", words, file=sys.stderr)
        return len(words)

talker = Talker()
`;
    await ask(c, 'update', { data: projectZip({ 'main.py': project }) });
    await processCall(c, 'talker', 'talk', { words: 'hello robot' });
    await waitFor(() => logs.some((l) => l.stream === 'stderr' && l.line === 'oops: hello robot'), 'the stderr line');
    expect(logs).toEqual(expect.arrayContaining([
      expect.objectContaining({ stream: 'stdout', line: 'loading the talker' }),
      expect.objectContaining({ stream: 'stdout', line: 'said: hello robot' }),
      expect.objectContaining({ stream: 'system', line: expect.stringMatching(/update by olga/) }),
    ]));
  });
});

describe('JavaScript and TypeScript projects', () => {
  it('runs main.js in a Node worker: objects, functions, push_message, stop()', async () => {
    const c = await connect({ token: r.operator });
    const js = `
import { push_message } from 'robot_runtime';
class Arm {
  constructor() { this.angle = 0; this.stops = 0; }
  rotate({ degrees }) { this.angle += degrees; return { angle: this.angle }; }
  async slow(ms) { await new Promise((r) => setTimeout(r, ms)); return 'slept ' + ms; }
  ping() { setTimeout(() => push_message('arm_event', { angle: this.angle, at: 'timer' }), 10); return 'ok'; }
  explode() { throw new RangeError('angle out of range'); }
  stop() { this.stops++; }
  _secret() { return 'no'; }
}
export const arm = new Arm();
export function version() { return process.versions.node; }
`;
    const updated = await ask(c, 'update', { data: projectZip({ 'main.js': js, 'package.json': '{"type":"module"}' }) });
    expect(updated).toMatchObject({ status: 'success', data: { project: { language: 'node', entry: 'main.js' } } });
    expect(updated.data.methods.map((m: any) => `${m.object}.${m.name}`).sort()).toEqual(['.version', 'arm.explode', 'arm.ping', 'arm.rotate', 'arm.slow', 'arm.stop']);
    expect((await processCall(c, 'arm', 'rotate', { degrees: 30 })).data).toEqual({ angle: 30 });
    expect((await processCall(c, 'arm', 'slow', [20])).data).toBe('slept 20');
    expect((await processCall(c, '', 'version', null)).data).toBe(process.versions.node);
    const events = collect(c, 'arm_event');
    await processCall(c, 'arm', 'ping');
    await waitFor(() => events.length > 0, 'arm_event push');
    expect(events[0]).toEqual({ angle: 30, at: 'timer' });
    const failed = await processCall(c, 'arm', 'explode');
    expect(failed).toMatchObject({ status: 'error', message: 'arm.explode raised RangeError: angle out of range' });
    expect(failed.data.traceback).toMatch(/main\.js/);
    expect(failed.data.traceback).not.toMatch(/runner\.mjs/);
    expect(await processCall(c, 'arm', '_secret')).toMatchObject({ status: 'error' });
  });

  it('runs a CommonJS main.js (module.exports, require("robot_runtime"))', async () => {
    const c = await connect({ token: r.operator });
    const cjs = `
const { push_message } = require('robot_runtime');
let count = 0;
module.exports = {
  counter: { bump(args) { count += args.by; push_message('bumped', { count }); return count; } },
  stop() { count = 0; },
};
`;
    const updated = await ask(c, 'update', { data: projectZip({ 'main.js': cjs }) });
    expect(updated).toMatchObject({ status: 'success', data: { methods: [{ object: 'counter', name: 'bump' }, { object: '', name: 'stop' }] } });
    const bumped = collect(c, 'bumped');
    expect((await processCall(c, 'counter', 'bump', { by: 3 })).data).toBe(3);
    await waitFor(() => bumped.length > 0, 'bumped push');
    expect(bumped[0]).toEqual({ count: 3 });
  });

  it('runs main.ts through tsx', async () => {
    const c = await connect({ token: r.operator });
    const ts = `
import { push_message } from 'robot_runtime';
interface Pose { x: number; y: number }
export const base = {
  pose: { x: 0, y: 0 } as Pose,
  drive(args: { dx: number; dy: number }): Pose {
    this.pose = { x: this.pose.x + args.dx, y: this.pose.y + args.dy };
    push_message('pose', this.pose);
    return this.pose;
  },
};
`;
    expect(await ask(c, 'update', { data: projectZip({ 'main.ts': ts }) })).toMatchObject({ status: 'success', data: { project: { entry: 'main.ts' } } });
    const poses = collect(c, 'pose');
    expect((await processCall(c, 'base', 'drive', { dx: 1, dy: 2 })).data).toEqual({ x: 1, y: 2 });
    await waitFor(() => poses.length > 0, 'pose push');
    expect(poses[0]).toEqual({ x: 1, y: 2 });
  });
});

describe('HTTP upload for big projects', () => {
  it('POST /api/v1/robot/projects then update {projectId}', async () => {
    const form = new FormData();
    form.append('file', new Blob([buildZip([{ name: 'bundle/main.py', data: PY_PROJECT }, { name: 'bundle/requirements.txt', data: 'numpy>=1.24\n' }])]), 'my_robot.zip');
    const up = await r.s.api('POST', '/api/v1/robot/projects', { token: r.operator, body: form });
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ projectId: expect.any(String), name: 'my_robot.zip', entry: 'main.py', language: 'python', files: 2, requirements: { packages: ['numpy>=1.24'] } });

    const c = await connect({ token: r.operator });
    const updated = await ask(c, 'update', { projectId: up.body.projectId });
    expect(updated).toMatchObject({ status: 'success', data: { project: { name: 'my_robot.zip', sha256: up.body.sha256, requirements: { packages: ['numpy>=1.24'], installed: false } } } });
    expect((await processCall(c, 'robot_controller', 'get_status')).status).toBe('success');
    expect(await ask(c, 'update', { projectId: '00000000-0000-0000-0000-000000000000' })).toMatchObject({ status: 'error', message: expect.stringMatching(/POST it to \/api\/v1\/robot\/projects/) });
  });

  it('refuses a viewer (403), no credentials (401), a non-project (400) and an oversize ZIP (413)', async () => {
    const zip = () => {
      const f = new FormData();
      f.append('file', new Blob([buildZip([{ name: 'main.py', data: 'x = 1\n' }])]), 'p.zip');
      return f;
    };
    expect((await r.s.api('POST', '/api/v1/robot/projects', { token: r.viewer, body: zip() })).status).toBe(403);
    expect((await r.s.api('POST', '/api/v1/robot/projects', { body: zip() })).status).toBe(401);
    const notProject = new FormData();
    notProject.append('file', new Blob([buildZip([{ name: 'README.md', data: 'hi' }])]), 'p.zip');
    const bad = await r.s.api('POST', '/api/v1/robot/projects', { token: r.operator, body: notProject });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_project', message: expect.stringMatching(/no main.py/) });
    const big = new FormData();
    big.append('file', new Blob([Buffer.alloc(300 * 1024, 1)]), 'big.zip');
    const tooBig = await r.s.api('POST', '/api/v1/robot/projects', { token: r.operator, body: big });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.code).toBe('too_large');
  });
});
