import { afterEach, describe, expect, it } from 'vitest';
import { createTempDatabase } from '../helpers/pg.ts';
import { type Harness, fileRecord, harness, jobRows } from './helpers.ts';

/** The same queue code on PostgreSQL: migrations, guarded transitions, kv flags, reconciliation. */
let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function setup(settings: Record<string, unknown> = {}) {
  const db = await createTempDatabase();
  h = await harness({ databaseUrl: db.url, onClose: db.drop });
  h.fleet.add('p1', { settings });
  h.fleet.add('p2', { settings });
  h.library.add(fileRecord('f1'));
  await h.queue.start();
}

const runs = (id: string, jobId: string) =>
  h.fleet.setState(id, { status: 'printing', fullStatus: true, job: { jobId, fileName: null, plate: 1 } });
const finishes = (id: string, jobId: string) =>
  h.fleet.setState(id, { status: 'idle', job: null, lastJob: { jobId, outcome: 'finished', at: h.clock.now() } });

describe('QueueService on PostgreSQL', () => {
  it('dispatches copies to two printers, counts finishes, keeps the plate flag across a restart', async () => {
    await setup({ requirePlateClear: true });
    const item = await h.queue.addItem({ fileId: 'f1', copies: 3 });
    await h.idle();
    const j1 = h.fleet.driver('p1').starts[0]!.jobId;
    const j2 = h.fleet.driver('p2').starts[0]!.jobId;
    expect((await jobRows(h)).map((r) => r.status)).toEqual(['printing', 'printing']);
    runs('p1', j1);
    finishes('p1', j1);
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ copiesDone: 1, status: 'printing' });
    expect(h.queue.gateFor('p1').open).toBe(false);
    // Restart with p2 still printing its copy: adopted, not re-sent; p1's plate flag is still set.
    await h.restart(() => h.fleet.setState('p2', { status: 'connecting', fullStatus: false }));
    runs('p2', j2);
    await h.idle();
    expect(h.fleet.driver('p2').starts).toHaveLength(1);
    h.clock.advance(100_000);
    expect(h.queue.gateFor('p1').reason).toBe('waiting for the user to confirm the plate is clear');
    finishes('p2', j2);
    await h.queue.plateCleared('p1');
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
    expect(h.queue.getItem(item.id)).toMatchObject({ copiesDone: 2 });
  });

  it('the database refuses a second active job on one printer and a reused job id', async () => {
    await setup();
    const base = {
      queue_item_id: 'x',
      printer_id: 'p9',
      status: 'starting',
      error: null,
      created_at: 'now',
      started_at: null,
      ended_at: null,
    };
    await h.storage.db
      .insertInto('jobs')
      .values({ ...base, id: 'd1', job_id: '11' })
      .execute();
    await expect(
      h.storage.db
        .insertInto('jobs')
        .values({ ...base, id: 'd2', job_id: '12' })
        .execute(),
    ).rejects.toThrow(/unique/i);
    await expect(
      h.storage.db
        .insertInto('jobs')
        .values({ ...base, id: 'd3', job_id: '11', printer_id: 'p8' })
        .execute(),
    ).rejects.toThrow(/unique/i);
  });
});
