/**
 * One worker process on its own, through the fd 3 protocol: what the runners answer, pushes with
 * the id of the call that made them, and the last line of defence — when the server dies (fd 3
 * closes), the worker runs the project's stop() itself and exits, in Python and in Node.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PushParams } from '../../src/robot/protocol.ts';
import type { ProjectInfo } from '../../src/robot/projects.ts';
import { workerSpawnSpec } from '../../src/robot/spawn.ts';
import { WorkerProcess } from '../../src/robot/worker-process.ts';
import { tempDir } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

const dirs: string[] = [];
const workers: WorkerProcess[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.terminate(1000);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function start(entry: 'main.py' | 'main.mjs', source: string) {
  const dir = tempDir('rwc-worker-');
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, entry), source);
  const project: ProjectInfo = { source: 'upload', name: null, language: entry === 'main.py' ? 'python' : 'node', entry, sha256: null, updatedAt: null, updatedBy: null, requirements: null };
  const pushes: PushParams[] = [];
  const logs: string[] = [];
  const w = new WorkerProcess(workerSpawnSpec({ project, projectDir: dir, python: 'python3', venv: null }), {
    onPush: (p) => pushes.push(p),
    onLog: (_s, line) => logs.push(line),
    onExit: () => {},
  });
  workers.push(w);
  return { w, dir, pushes, logs, load: () => w.request('load', { projectDir: dir, entry }) };
}

describe('worker protocol', () => {
  it('describes the project, runs calls, tags pushes with the calling id, answers ping', async () => {
    const { w, pushes, load } = start(
      'main.py',
      `
from robot_runtime import motion, push_message

class Lamp:
    __motion__ = ["sweep"]
    def on(self, level=100):
        """Turns the lamp on."""
        push_message("lamp", {"level": level})
        return level
    @motion
    def blink(self, times):
        return times
    def sweep(self):
        return "sweep"

lamp = Lamp()
`,
    );
    expect(await w.ready).toMatchObject({ runtime: 'python', protocol: 1, pid: w.pid });
    const described = (await load()) as any;
    expect(described.objects).toEqual([
      {
        name: 'lamp',
        className: 'Lamp',
        doc: null,
        methods: [
          { name: 'blink', params: [{ name: 'times', required: true }], motion: true, doc: null },
          { name: 'on', params: [{ name: 'level', required: false, default: 100 }], motion: false, doc: 'Turns the lamp on.' },
          { name: 'sweep', params: [], motion: true, doc: null },
        ],
      },
    ]);
    let callId = 0;
    expect(await w.request('call', { object: 'lamp', method: 'on', args: { level: 30 } }, (id) => (callId = id))).toBe(30);
    expect(pushes).toEqual([{ event: 'lamp', data: { level: 30 }, parentId: callId }]);
    expect(await w.request('ping', {})).toMatchObject({ pong: true });
    await expect(w.request('nonsense', {})).rejects.toMatchObject({ code: 'unknown_method' });
  });

  for (const [entry, source] of [
    [
      'main.py',
      `
import os
class Valve:
    def open(self):
        return "open"
    def stop(self):
        with open(os.path.join(os.environ["RWC_ROBOT_PROJECT_DIR"], "stopped.txt"), "w") as f:
            f.write("closed by stop()")
valve = Valve()
`,
    ],
    [
      'main.mjs',
      `
import fs from 'node:fs';
import path from 'node:path';
export const valve = {
  open() { return 'open'; },
  stop() { fs.writeFileSync(path.join(process.env.RWC_ROBOT_PROJECT_DIR, 'stopped.txt'), 'closed by stop()'); },
};
`,
    ],
  ] as const) {
    it(`${entry}: when the server goes away (fd 3 closes), the worker runs stop() and exits`, async () => {
      const { w, dir, load } = start(entry, source);
      await w.ready;
      await load();
      expect(await w.request('call', { object: 'valve', method: 'open', args: null })).toBe('open');
      // The server's end of the socket pair closes, as when the server process dies.
      (w.child.stdio[3] as unknown as { destroy(): void }).destroy();
      const exit = await w.exited;
      expect(exit).toMatchObject({ code: 0 });
      await waitFor(() => fs.existsSync(path.join(dir, 'stopped.txt')), 'stop() ran');
      expect(fs.readFileSync(path.join(dir, 'stopped.txt'), 'utf8')).toBe('closed by stop()');
    });
  }
});
