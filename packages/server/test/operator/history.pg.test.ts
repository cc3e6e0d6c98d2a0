/** The print history and its totals on PostgreSQL (same code as SQLite). */
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDatabase } from '../helpers/pg.ts';
import { type Harness, fileRecord, harness } from '../queue/helpers.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

describe('print history on PostgreSQL', () => {
  it('lists, pages and totals jobs, and a copy cancel is recorded with who did it', async () => {
    const db = await createTempDatabase();
    h = await harness({ databaseUrl: db.url, onClose: db.drop });
    h.fleet.add('p1', { settings: { swapCooldownSeconds: 0 } });
    h.fleet.add('p2', { settings: { swapCooldownSeconds: 0 } });
    h.library.add(fileRecord('f1'));
    await h.queue.start();
    const item = await h.queue.addItem({ fileId: 'f1', copies: 3 });
    await h.idle();
    h.clock.advance(120_000);
    const j1 = h.fleet.driver('p1').starts[0]!.jobId;
    h.fleet.setState('p1', { status: 'printing', job: { jobId: j1, fileName: null, plate: 1 } });
    h.fleet.setState('p1', {
      status: 'idle',
      job: null,
      lastJob: { jobId: j1, outcome: 'finished', at: h.clock.now() },
    });
    await h.idle();
    const onP2 = h.queue.getItem(item.id).activeJobs.find((j) => j.printerId === 'p2')!;
    await h.queue.cancelJob(onP2.id, 'copy', 'bob');
    await h.idle();
    const page1 = await h.queue.history.list({}, { limit: 1 });
    const page2 = await h.queue.history.list({}, { limit: 1, cursor: page1.next! });
    expect([page1.items[0]!.status, page2.items[0]!.status].sort()).toEqual(['cancelled', 'finished']);
    expect(page2.next).toBeNull();
    const cancelled = [...page1.items, ...page2.items].find((j) => j.status === 'cancelled')!;
    expect(cancelled).toMatchObject({ cancelledBy: 'bob', durationSeconds: 120, fileId: 'f1', plate: 1 });
    const stats = await h.queue.history.stats({});
    expect(stats).toMatchObject({
      prints: 2,
      done: 1,
      cancelled: 1,
      printSeconds: 240,
      filamentGrams: 10,
      successRate: 1,
    });
    expect(stats.printers.map((p) => p.printerId).sort()).toEqual(['p1', 'p2']);
    expect((await h.queue.history.stats({ printerId: 'p1', from: '2000-01-01T00:00:00Z' })).prints).toBe(1);
  });
});
