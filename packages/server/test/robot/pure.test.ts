/**
 * The robot part's pure decision logic, with an injected clock: restart backoff and the crash-loop
 * guard, the deadman timer, the control lock, requirements parsing, project-root detection, the
 * worker protocol's framing and the worker's environment.
 */
import { describe, expect, it } from 'vitest';
import type { AuthUser } from '../../src/auth/roles.ts';
import { ControlLock } from '../../src/robot/control-lock.ts';
import { CrashGuard } from '../../src/robot/crash-guard.ts';
import { Deadman } from '../../src/robot/deadman.ts';
import { LineSplitter, parseWorkerLine } from '../../src/robot/protocol.ts';
import { locateEntry } from '../../src/robot/project-zip.ts';
import { parseRequirements } from '../../src/robot/requirements.ts';
import { isReservedEvent } from '../../src/robot/runtime.ts';
import { workerEnv } from '../../src/robot/spawn.ts';
import { FakeClock } from '../../src/util/clock.ts';

const user = (username: string, role: AuthUser['role'] = 'operator'): AuthUser => ({ id: `id-${username}`, username, role, via: 'jwt' });

describe('CrashGuard', () => {
  it('backs off exponentially and gives up after too many crashes in the window', () => {
    const g = new CrashGuard({ maxCrashes: 3, windowMs: 60_000, baseDelayMs: 500, maxDelayMs: 1500 });
    expect(g.record(0)).toEqual({ action: 'restart', delayMs: 500, crashes: 1 });
    expect(g.record(1000)).toEqual({ action: 'restart', delayMs: 1000, crashes: 2 });
    expect(g.record(2000)).toEqual({ action: 'restart', delayMs: 1500, crashes: 3 });
    expect(g.record(3000)).toEqual({ action: 'give_up', crashes: 4 });
  });

  it('forgets crashes older than the window, and on reset', () => {
    const g = new CrashGuard({ maxCrashes: 2, windowMs: 10_000, baseDelayMs: 100, maxDelayMs: 10_000 });
    g.record(0);
    g.record(1);
    expect(g.record(20_000)).toEqual({ action: 'restart', delayMs: 100, crashes: 1 });
    expect(g.recent(20_000)).toBe(1);
    g.reset();
    expect(g.recent(20_000)).toBe(0);
  });
});

describe('Deadman', () => {
  it('fires once when armed and not touched for the timeout', () => {
    const clock = new FakeClock();
    let fired = 0;
    const d = new Deadman(clock, 500, () => fired++);
    clock.advance(10_000);
    expect(fired).toBe(0); // never armed
    d.arm();
    clock.advance(400);
    d.touch();
    clock.advance(400);
    expect(fired).toBe(0); // touched in time
    clock.advance(100);
    expect(fired).toBe(1);
    expect(d.armed).toBe(false);
    clock.advance(5000);
    expect(fired).toBe(1); // disarmed after firing
  });

  it('does nothing after disarm, and touch does not arm', () => {
    const clock = new FakeClock();
    let fired = 0;
    const d = new Deadman(clock, 500, () => fired++);
    d.arm();
    d.disarm();
    clock.advance(1000);
    d.touch();
    clock.advance(1000);
    expect(fired).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('ControlLock', () => {
  it('grants the first operator, refuses a second naming the holder, and lets takeover displace', () => {
    const lock = new ControlLock();
    expect(lock.claim('s1', user('olga'), { takeover: false, now: 1000 })).toEqual({ granted: true, displaced: null });
    const refused = lock.claim('s2', user('oscar'), { takeover: false, now: 2000 });
    expect(refused).toMatchObject({ granted: false, reason: 'busy', holder: { socketId: 's1', since: 1000 } });
    const taken = lock.claim('s2', user('oscar'), { takeover: true, now: 3000 });
    expect(taken).toMatchObject({ granted: true, displaced: { socketId: 's1', user: { username: 'olga' } } });
    expect(lock.holder).toMatchObject({ socketId: 's2', since: 3000 });
    expect(lock.release('s1')).toBe(false); // the displaced one no longer holds anything
    expect(lock.release('s2')).toBe(true);
    expect(lock.holder).toBeNull();
  });

  it('never gives control to a viewer, even with takeover', () => {
    const lock = new ControlLock();
    lock.claim('s1', user('olga'), { takeover: false, now: 0 });
    expect(lock.claim('s2', user('vera', 'viewer'), { takeover: true, now: 1 })).toEqual({ granted: false, reason: 'role' });
    expect(lock.holder?.socketId).toBe('s1');
  });
});

describe('requirements.txt', () => {
  it('keeps specifiers and refuses options, URLs and garbage', () => {
    const r = parseRequirements(
      ['# robot deps', 'numpy>=1.24,<2', 'pyyaml', 'unitree_sdk2py[dds]==1.0.1 ; python_version >= "3.8"', '', '--index-url https://evil.example/simple', '-e .', 'pkg @ https://x.example/pkg.whl', 'rm -rf /'].join('\n'),
    );
    expect(r.packages).toEqual(['numpy>=1.24,<2', 'pyyaml', 'unitree_sdk2py[dds]==1.0.1 ; python_version >= "3.8"']);
    expect(r.refused.map((x) => x.line)).toEqual(['--index-url https://evil.example/simple', '-e .', 'pkg @ https://x.example/pkg.whl', 'rm -rf /']);
    expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('project root in a ZIP', () => {
  it('finds the entry at the top or in a single top folder', () => {
    expect(locateEntry(['main.py', 'lib/x.py'])).toEqual({ entry: 'main.py', prefix: '' });
    expect(locateEntry(['proj/main.ts', 'proj/util.ts'])).toEqual({ entry: 'main.ts', prefix: 'proj/' });
  });

  it('refuses no entry file and two entry files, saying what to do', () => {
    expect(() => locateEntry(['src/main.py', 'README.md'])).toThrow(/no main.py, main.js, main.mjs, main.ts at its top level/);
    expect(() => locateEntry(['main.py', 'main.js'])).toThrow(/main.py and main.js/);
  });
});

describe('worker protocol framing', () => {
  it('splits lines across chunks and drops an oversize line without losing the next one', () => {
    const lines: string[] = [];
    const oversize: number[] = [];
    const s = new LineSplitter((l) => lines.push(l), (n) => oversize.push(n), 10);
    s.push('{"a"');
    s.push(':1}\n{"b":2}\n0123456789ABC');
    s.push('DEF\n{"c":3}\n');
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(oversize.length).toBe(1);
  });

  it('reads responses, errors and notifications, and nothing else', () => {
    expect(parseWorkerLine('{"id":3,"result":{"x":1}}')).toEqual({ id: 3, result: { x: 1 } });
    expect(parseWorkerLine('{"id":4,"error":{"code":"exception","message":"ValueError: no","data":{"traceback":"T"}}}')).toEqual({
      id: 4,
      error: { code: 'exception', message: 'ValueError: no', data: { traceback: 'T' } },
    });
    expect(parseWorkerLine('{"method":"push","params":{"event":"telemetry","data":[1],"parentId":7}}')).toEqual({
      method: 'push',
      params: { event: 'telemetry', data: [1], parentId: 7 },
    });
    for (const bad of ['not json', '[1,2]', '{"id":"x","result":1}', '{"method":"push","params":{"event":""}}', '{"id":1,"error":{}}']) {
      expect(parseWorkerLine(bad)).toBeNull();
    }
  });
});

describe('events and environment', () => {
  it('reserves Socket.IO and server event names', () => {
    for (const name of ['connect', 'disconnect', 'robot.state', 'robot.anything', 'x'.repeat(101)]) expect(isReservedEvent(name)).toBe(true);
    for (const name of ['telemetry', 'task_completed', 'recognition_result']) expect(isReservedEvent(name)).toBe(false);
  });

  it('keeps secrets and server settings out of the worker environment', () => {
    const env = workerEnv({
      PATH: '/usr/bin',
      HOME: '/root',
      RWC_DATABASE_URL: 'postgres://u:p@h/db',
      AWS_SECRET_ACCESS_KEY: 'x',
      GITHUB_TOKEN: 'y',
      MY_API_KEY: 'z',
      CYCLONEDDS_URI: 'file:///etc/dds.xml',
    });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/root', CYCLONEDDS_URI: 'file:///etc/dds.xml' });
  });
});
