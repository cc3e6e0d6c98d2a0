/**
 * kill -9 of the server (a child process) while nothing prints, and in the middle of a job's FTPS
 * upload; restart on the same data dir. The Bambu simulator lives in the test process.
 * Split from crash-restart.test.ts so the two files run in parallel.
 */
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURE_3MF, projectFiles, sleep, waitFor } from './child-server.ts';
import { CrashRig } from './crash-rig.ts';

const rigs = new CrashRig();
afterEach(() => rigs.cleanup());
const { setup, itemOf } = rigs;

// Two cold server starts per test: generous on a loaded two-core machine (the scale-out e2e runs beside).
describe('crash and restart with queued work (kill -9 of the server process)', { timeout: 120_000 }, () => {
  it('nothing printing: queued items, their order and the paused switch survive', async () => {
    const { s, sim, printerId, fileId } = await setup();
    expect((await s.api('POST', '/api/v1/queue/pause')).body).toEqual({ running: false });
    const ids: string[] = [];
    for (let k = 0; k < 3; k++) ids.push((await s.api('POST', '/api/v1/queue', { fileId, copies: k + 1 })).body.id);
    const order = [ids[2]!, ids[0]!, ids[1]!];
    expect((await s.api('POST', '/api/v1/queue/reorder', { ids: order })).status).toBe(200);
    await s.kill9();

    await s.start();
    const q = await s.queue();
    expect(q.running).toBe(false);
    expect(q.items.map((i: any) => i.id)).toEqual(order);
    expect(q.items.map((i: any) => [i.status, i.copies, i.copiesDone])).toEqual([
      ['waiting', 3, 0],
      ['waiting', 1, 0],
      ['waiting', 2, 0],
    ]);
    // Still paused: an idle printer gets nothing.
    await waitFor(async () => (await s.printerState(printerId)).status === 'idle', 'printer idle after restart');
    await sleep(500);
    expect(projectFiles(sim)).toHaveLength(0);

    // Started again, the first item in the kept order goes out.
    expect((await s.api('POST', '/api/v1/queue/start')).body).toEqual({ running: true });
    await waitFor(() => projectFiles(sim).length === 1, 'first job sent');
    const first = await waitFor(async () => {
      const item = await itemOf(s, order[0]!);
      return item.activePrinterIds.length === 1 && item;
    }, 'the first item is printing');
    expect(first.activePrinterIds).toEqual([printerId]);
  });

  it('killed during the upload: the start was provably never sent, so the copy goes back to the queue and prints once', async () => {
    // 48 KB at 16 KB/s: the FTPS upload takes about 3 s.
    const { s, sim, printerId, fileId } = await setup({ slowFtpsBytesPerSecond: 16 * 1024 });
    sim.setFtpsMode('slow');
    const size = fs.statSync(FIXTURE_3MF).size;
    const added = await s.api('POST', '/api/v1/queue', { fileId, copies: 2 });
    const itemId = added.body.id as string;
    const onPrinter = () => sim.files().find((f) => f.name.endsWith('.3mf'));
    await waitFor(() => (onPrinter()?.size ?? 0) > 0, 'upload under way');
    await s.kill9();
    expect(onPrinter()!.size).toBeLessThan(size);
    expect(projectFiles(sim)).toHaveLength(0);

    // The job row says `starting` but has no sent marker: the start command never left the server.
    sim.setFtpsMode('normal');
    await s.start();
    const interrupted = await waitFor(async () => {
      const events = (await s.api('GET', '/api/v1/events?type=job.failed')).body as any[];
      return events.find((e) => /before the start command was sent/.test(e.data.reason)) ?? false;
    }, 'the interrupted dispatch is reported');
    expect(interrupted.printerId).toBe(printerId);
    // No attention flag, no plate confirmation: the copy is simply dispatched again, uploaded whole.
    await waitFor(() => projectFiles(sim).length === 1, 'copy started again after the restart');
    expect(onPrinter()!.size).toBe(size);
    await waitFor(() => sim.gcodeState === 'RUNNING', 'printing');
    expect(projectFiles(sim)).toHaveLength(1);
    sim.finishNow();
    const counted = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.copiesDone === 1 && item;
    }, 'copy counted');
    expect(counted).toMatchObject({ copies: 2, copiesDone: 1 });
  });
});
