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

describe('crash and restart with queued work (kill -9 of the server process)', () => {
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

  it('killed during the upload: nothing is ever started for that dispatch, the item stays with its reason until a person confirms', async () => {
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

    await s.start();
    await waitFor(async () => (await s.printerState(printerId)).status === 'idle', 'printer idle after restart');
    const held = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.lastError && item;
    }, 'the interrupted dispatch is reported');
    // The queue cannot know whether a start went out, so it starts nothing on that printer until
    // someone looks; the item is kept (not lost) with the reason.
    expect(held).toMatchObject({ copies: 2, copiesDone: 0, activePrinterIds: [] });
    expect(held.lastError).toMatch(/restarted/);
    const printer = await s.api('GET', `/api/v1/printers/${printerId}`);
    expect(printer.body.state.gate.open).toBe(false);
    await sleep(1000);
    expect(projectFiles(sim)).toHaveLength(0);

    // The person confirms the plate and puts the item back: the file is uploaded whole, then started.
    sim.setFtpsMode('normal');
    expect((await s.api('POST', `/api/v1/printers/${printerId}/plate-cleared`)).status).toBe(200);
    expect((await s.api('PATCH', `/api/v1/queue/${itemId}`, { copies: 2 })).status).toBe(200);
    await waitFor(() => projectFiles(sim).length === 1, 'copy started after the confirmation');
    expect(onPrinter()!.size).toBe(size);
    await waitFor(() => sim.gcodeState === 'RUNNING', 'printing');
    sim.finishNow();
    const counted = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.copiesDone === 1 && item;
    }, 'copy counted');
    expect(counted.copies).toBe(2);
  });
});
