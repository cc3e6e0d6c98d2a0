/**
 * Safety over real sockets and real worker processes: e-stop during a long call and ahead of queued
 * calls, stop() over its time box escalating to SIGTERM/SIGKILL of the process group, the per-call
 * time limit (cooperative and stuck calls), a worker crash answering every waiting call and
 * restarting with backoff, and hostile project ZIPs (zip-slip, absolute paths, symlinks, zip bombs,
 * too many files) refused while the old project keeps running.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../src/alerts/raise.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { type TestEntry, buildZip } from '../library/zip-writer.ts';
import { type RobotTestServer, ask, collect, connectRobot, processCall, projectZip, startRobotServer } from './helpers.ts';

const RIG = `
import os, signal, time
from robot_runtime import motion, should_stop, wait_stop

HANG_STOP = False

class Rig:
    def __init__(self):
        self.ran = []
        self.stops = 0

    def record(self, tag):
        self.ran.append(tag)
        return list(self.ran)

    def history(self):
        return {"ran": self.ran, "stops": self.stops, "pid": os.getpid()}

    @motion
    def long_move(self, seconds=30):
        """Cooperative: wakes up as soon as a stop is requested."""
        t0 = time.monotonic()
        wait_stop(seconds)
        return {"elapsed": time.monotonic() - t0, "stopped": should_stop()}

    def stubborn(self, seconds=30):
        time.sleep(seconds)
        return "finished"

    def crash(self, code=3):
        os._exit(code)

    def spawn_helper(self):
        import subprocess
        self.helper = subprocess.Popen(["sleep", "600"])
        return self.helper.pid

    def segfault(self):
        # A real invalid read in this thread: os.kill() delivers the signal asynchronously (maybe to
        # another thread), and the call could answer before the process dies.
        import ctypes
        ctypes.string_at(0)

    def stop(self):
        self.stops += 1
        if HANG_STOP:
            time.sleep(60)

rig = Rig()

def hang_stop(on=True):
    global HANG_STOP
    HANG_STOP = on
    return on
`;

let r: RobotTestServer;
let c: Socket;
const alerts: AlertEvent[] = [];
const status = async () => (await r.s.api('GET', '/api/v1/robot', { token: r.admin })).body;
const history = async () => (await processCall(c, 'rig', 'history')).data as { ran: string[]; stops: number; pid: number };

beforeAll(async () => {
  r = await startRobotServer({
    robotMaxExecutionSeconds: 2,
    robotStopTimeoutSeconds: 1,
    robotMaxUnpackedBytes: 4 * 1024 * 1024,
    robotMaxProjectFiles: 50,
    maxZipRatio: 200,
    // These calls are @motion and the test is silent while they run: keep the deadman out of it.
    robotDeadmanMs: 600_000,
  });
  r.s.infra.bus.on('alert', {}, (a) => alerts.push(a));
  c = await connectRobot(r.s.url, { token: r.operator });
  expect(await ask(c, 'update', { data: projectZip({ 'main.py': RIG }) })).toMatchObject({ status: 'success' });
}, 60_000);
afterAll(async () => {
  c?.close();
  await r?.s.destroy();
});

/** Waits until the worker is ready with a pid other than `oldPid`. */
const newWorker = (oldPid: number) =>
  waitFor(async () => {
    const w = (await status()).worker;
    return w.state === 'ready' && w.pid !== oldPid && w.pid;
  }, 'a fresh worker', 20_000);

describe('e-stop', () => {
  it('interrupts a long call at once and runs stop(); the worker stays', async () => {
    const before = await history();
    const long = processCall(c, 'rig', 'long_move', { seconds: 30 });
    await waitFor(async () => (await status()).worker.busy?.call === 'rig.long_move', 'the long call running');
    const t0 = Date.now();
    const stopped = await ask(c, 'estop');
    expect(stopped).toMatchObject({ status: 'success', message: expect.stringMatching(/^e-stop: stop\(\) ran in \d+ ms$/), data: { outcome: 'stopped', ran: ['rig.stop'] } });
    expect(await long).toMatchObject({ status: 'error', data: { code: 'estop' }, message: 'rig.long_move was interrupted by the e-stop' });
    expect(Date.now() - t0).toBeLessThan(20_000); // not the 30 s of the call (generous: the machine may be busy)
    const after = await history();
    expect(after.pid).toBe(before.pid);
    expect(after.stops).toBe(before.stops + 1);
    expect(alerts.map((a) => a.code)).toContain('robot_estop');
  });

  it('drops the queued calls before they run', async () => {
    const long = processCall(c, 'rig', 'long_move', { seconds: 30 });
    await waitFor(async () => (await status()).worker.busy?.call === 'rig.long_move', 'the long call running');
    const queued = [processCall(c, 'rig', 'record', ['queued-1']), processCall(c, 'rig', 'record', ['queued-2'])];
    await waitFor(async () => (await status()).worker.queued === 2, 'two calls queued');
    expect((await ask(c, 'estop')).status).toBe('success');
    for (const q of await Promise.all(queued)) expect(q).toMatchObject({ status: 'error', data: { code: 'cancelled' }, message: expect.stringMatching(/dropped before it ran/) });
    expect((await long).data.code).toBe('estop');
    expect((await history()).ran).not.toContain('queued-1');
    expect((await processCall(c, 'rig', 'record', ['after'])).data).toContain('after');
  });

  it('terminates the worker when stop() overruns its time box, and starts a fresh one', async () => {
    const { pid } = await history();
    // An SDK-style helper process in the worker's process group: it must not outlive the kill.
    const helper = (await processCall(c, 'rig', 'spawn_helper')).data as number;
    await processCall(c, '', 'hang_stop', [true]);
    const long = processCall(c, 'rig', 'stubborn', { seconds: 30 });
    await waitFor(async () => (await status()).worker.busy?.call === 'rig.stubborn', 'the stubborn call running');
    const stopped = await ask(c, 'estop');
    expect(stopped).toMatchObject({ status: 'success', message: expect.stringMatching(/worker was terminated/), data: { outcome: 'killed' } });
    expect((await long).data.code).toBe('estop');
    expect(() => process.kill(pid, 0)).toThrow(); // the old process is gone
    await waitFor(() => {
      try {
        process.kill(helper, 0);
        return false;
      } catch {
        return true;
      }
    }, 'the helper process killed with its group');
    await newWorker(pid);
    const fresh = await history();
    expect(fresh.pid).not.toBe(pid);
    expect(fresh.ran).toEqual([]); // a new process: the module was imported again
    expect(alerts.map((a) => a.code)).toContain('robot_worker_killed');
  });
});

describe('max_execution_time', () => {
  it('answers call_timeout; a cooperative call then ends and the worker stays', async () => {
    const { pid } = await history();
    const t0 = Date.now();
    const timedOut = await processCall(c, 'rig', 'long_move', { seconds: 30 });
    expect(timedOut).toMatchObject({ status: 'error', data: { code: 'call_timeout' }, message: expect.stringMatching(/rig.long_move ran longer than max_execution_time \(2 s\)/) });
    expect(Date.now() - t0).toBeLessThan(25_000);
    await waitFor(async () => (await status()).worker.busy === null, 'the call ended after the cancel');
    expect((await history()).pid).toBe(pid);
  });

  it('a call that ignores the cancel gets its worker restarted', async () => {
    const { pid } = await history();
    expect(await processCall(c, 'rig', 'stubborn', { seconds: 60 })).toMatchObject({ status: 'error', data: { code: 'call_timeout' } });
    await newWorker(pid);
    expect((await history()).pid).not.toBe(pid);
  });
});

describe('worker crash', () => {
  it('answers the running and the queued call with an error, reports it, and restarts with backoff', async () => {
    const { pid } = await history();
    const states = collect(c, 'robot.state');
    const crashing = processCall(c, 'rig', 'crash', [7]);
    const queued = processCall(c, 'rig', 'record', ['never']);
    expect(await crashing).toMatchObject({ status: 'error', data: { code: 'worker_crashed' }, message: expect.stringMatching(/exit code 7/) });
    expect(await queued).toMatchObject({ status: 'error', data: { code: 'worker_crashed' } });
    // While restarting, calls are answered at once (not queued for later).
    const during = await processCall(c, 'rig', 'history');
    if (during.status === 'error') expect(during.data.code).toBe('worker_restarting');
    await newWorker(pid);
    expect(states.some((s) => s.worker.state === 'restarting' && s.worker.lastError?.message.includes('exit code 7'))).toBe(true);
    const w = (await status()).worker;
    expect(w.restarts).toBeGreaterThanOrEqual(1);
    expect(w.recentCrashes).toBeGreaterThanOrEqual(1);
    expect(alerts.find((a) => a.code === 'robot_worker_crashed')).toMatchObject({ level: 'error', message: expect.stringMatching(/exit code 7/) });
    expect((await history()).ran).not.toContain('never');
  });

  it('a segfault names the signal and the stderr tail; the next crash waits longer', async () => {
    const { pid } = await history();
    const crashed = await processCall(c, 'rig', 'segfault');
    expect(crashed).toMatchObject({ status: 'error', data: { code: 'worker_crashed' }, message: expect.stringMatching(/SIGSEGV/) });
    expect(crashed.data.traceback).toMatch(/Fatal Python error|Segmentation fault/);
    // Second crash within the window: the backoff doubled.
    expect((await status()).worker.restartInSeconds).toBeGreaterThan(0.5);
    await newWorker(pid);
  });
});

describe('hostile project ZIPs', () => {
  const zip = (entries: TestEntry[]) => buildZip(entries).toString('base64');
  const main = { name: 'main.py', data: 'x = 1\n' };

  it('are refused with the old project still running', async () => {
    await waitFor(async () => (await status()).worker.state === 'ready', 'a ready worker', 20_000);
    const before = await status();
    const { pid } = await history();
    const evilDir = path.dirname(path.dirname(path.join(r.s.dataDir, 'robot', 'projects', 'current')));
    const zeros = Buffer.alloc(3 * 1024 * 1024);
    const attacks: Array<[string, string, RegExp]> = [
      ['zip-slip', zip([main, { name: '../../evil.py', data: 'print("pwned")' }]), /outside the archive/],
      ['absolute path', zip([main, { name: '/tmp/evil.py', data: 'x' }]), /absolute path/],
      ['symlink', zip([main, { name: 'link', data: '/etc/passwd', externalAttributes: (0o120777 << 16) >>> 0, versionMadeBy: 0x031e }]), /symbolic link/],
      ['ratio bomb', zip([main, { name: 'zeros.bin', data: zeros }]), /compression ratio/],
      ['total bomb', zip([main, ...Array.from({ length: 20 }, (_, i) => ({ name: `blob${i}.bin`, data: Buffer.alloc(300 * 1024, i), method: 0 }))]), /in total, over the limit/],
      ['lying header', zip([main, { name: 'big.bin', data: Buffer.alloc(64 * 1024, 7), declaredSize: 1000 }]), /declared size|compression ratio|corrupt/],
      ['too many files', zip([main, ...Array.from({ length: 60 }, (_, i) => ({ name: `f${i}.py`, data: '#' }))]), /more than the 50 allowed/],
      ['duplicate names', zip([main, { name: 'main.py', data: 'y = 2' }]), /twice/],
      ['not a zip', Buffer.from('just text').toString('base64'), /not a valid zip/],
    ];
    for (const [what, data, why] of attacks) {
      const ack = await ask(c, 'update', { data });
      expect(ack, `${what}: ${JSON.stringify(ack)}`).toMatchObject({ status: 'error', data: { code: 'invalid_project' } });
      expect(ack.message, what).toMatch(why);
    }
    expect(fs.existsSync(path.join(evilDir, 'evil.py'))).toBe(false);
    expect(fs.existsSync('/tmp/evil.py')).toBe(false);
    const after = await status();
    expect(after.project).toEqual(before.project);
    expect(after.worker.pid).toBe(pid);
    expect((await history()).pid).toBe(pid);
    // Nothing left half-unpacked.
    const staging = path.join(r.s.dataDir, 'robot', 'projects', '.staging');
    expect(fs.existsSync(staging) ? fs.readdirSync(staging).filter((f) => !f.startsWith('old-')) : []).toEqual([]);
  });
});

describe('the update path with a running call', () => {
  it('update stops the project and answers the running call before replacing it', async () => {
    const long = processCall(c, 'rig', 'long_move', { seconds: 30 });
    await waitFor(async () => (await status()).worker.busy?.call === 'rig.long_move', 'the long call running');
    expect(await ask(c, 'update', { data: projectZip({ 'main.py': RIG.replace('self.ran = []', 'self.ran = ["v2"]') }) })).toMatchObject({ status: 'success' });
    expect((await long).status).toBe('success'); // stop() woke it; it returned before the swap
    expect((await history()).ran).toEqual(['v2']);
  });
});

describe('a JavaScript worker blocked in a busy loop', () => {
  it('cannot answer stop(): the e-stop terminates it and a fresh worker starts', async () => {
    const js = `export const spinner = {
  spin() { const until = Date.now() + 60_000; while (Date.now() < until) {} return 'done'; },
  alive() { return process.pid; },
};`;
    expect(await ask(c, 'update', { data: projectZip({ 'main.mjs': js }) })).toMatchObject({ status: 'success' });
    const pid = (await processCall(c, 'spinner', 'alive')).data;
    const spinning = processCall(c, 'spinner', 'spin');
    await waitFor(async () => (await status()).worker.busy?.call === 'spinner.spin', 'the busy loop running');
    await sleep(100);
    expect(await ask(c, 'estop')).toMatchObject({ status: 'success', data: { outcome: 'killed', detail: expect.stringMatching(/did not both end within 1 s/) } });
    expect((await spinning).data.code).toBe('estop');
    await newWorker(pid);
    expect((await processCall(c, 'spinner', 'alive')).data).not.toBe(pid);
  });
});
