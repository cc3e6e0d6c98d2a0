/**
 * Copies, cancels, retries and the print history through the queue and job routes, on a real
 * SQLite file (kept across a restart of the service on the same file).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainError } from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/errors.ts';
import { queueRoutes } from '../../src/queue/routes.ts';
import { type Harness, fileRecord, harness } from '../queue/helpers.ts';

let h: Harness;
let app: FastifyInstance | null = null;

afterEach(async () => {
  await app?.close();
  app = null;
  await h?.close();
});

async function mountRoutes() {
  await app?.close();
  app = Fastify();
  // Stands in for the auth hook: the caller is "alice" (cancelled by whom).
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (req) => {
    (req as any).user = { id: 'u1', username: 'alice', role: 'operator', via: 'jwt' };
  });
  app.setErrorHandler((err: any, _req, reply) => {
    if (err instanceof DomainError)
      return reply
        .status(httpStatusOf(err))
        .send({ error: { code: err.code, message: err.message, params: err.params } });
    if (err.validation) return reply.status(400).send({ error: { code: 'validation_error', message: err.message } });
    return reply.status(500).send({ error: { code: 'internal_error', message: String(err.message) } });
  });
  await app.register(queueRoutes, { prefix: '/api/v1', queue: h.queue });
  await app.ready();
}

const call = async (method: string, url: string, payload?: unknown) => {
  const res = await app!.inject({
    method: method as any,
    url,
    ...(payload !== undefined ? { payload: payload as any } : {}),
  });
  const text = res.body;
  return {
    status: res.statusCode,
    type: String(res.headers['content-type'] ?? ''),
    text,
    body: text && String(res.headers['content-type']).includes('json') ? JSON.parse(text) : null,
  };
};

/** Two ready printers, one 3-copy item printing on both. */
async function twoPrinting() {
  h = await harness();
  h.fleet.add('p1', { settings: { swapCooldownSeconds: 0 } });
  h.fleet.add('p2', { settings: { swapCooldownSeconds: 0 } });
  h.library.add(fileRecord('f1'));
  await h.queue.start();
  await mountRoutes();
  const added = await call('POST', '/api/v1/queue', { fileId: 'f1', copies: 3 });
  await h.idle();
  const item = (await call('GET', '/api/v1/queue')).body.items[0];
  expect(item.activeJobs).toHaveLength(2);
  return { itemId: added.body.id as string, jobs: item.activeJobs as Array<{ id: string; printerId: string }> };
}

/** The printer reports the job it was given as ended. */
function end(printerId: string, outcome: 'finished' | 'failed' | 'cancelled') {
  const starts = h.fleet.driver(printerId).starts;
  const jobId = starts[starts.length - 1]!.jobId;
  h.fleet.setState(printerId, { status: 'printing', job: { jobId, fileName: null, plate: 1 }, progress: 50 });
  h.fleet.setState(printerId, {
    status: 'idle',
    job: null,
    progress: null,
    lastJob: { jobId, outcome, at: h.clock.now() },
  });
}

describe('copies and cancels', () => {
  it('cancelling one running copy stops that printer only; the item goes on with its other copies', async () => {
    const { itemId, jobs } = await twoPrinting();
    const onP1 = jobs.find((j) => j.printerId === 'p1')!;
    h.clock.advance(60_000);
    const res = await call('POST', `/api/v1/jobs/${onP1.id}/cancel`, { scope: 'copy' });
    expect(res.status).toBe(200);
    expect(res.body.job).toMatchObject({
      outcome: 'cancelled',
      cancelledBy: 'alice',
      reason: 'cancelled by alice',
      durationSeconds: 60,
    });
    expect(res.body.item).toMatchObject({ id: itemId, copies: 3, copiesCancelled: 1, status: 'printing' });
    expect(h.fleet.driver('p1').cancels).toBe(1);
    expect(h.fleet.driver('p2').cancels).toBe(0);
    // No failure: the queue keeps running and no job_failed alert.
    expect(h.queue.getQueue().running).toBe(true);
    expect(h.eventsOf('alert').filter((a) => a.data.code === 'job_failed')).toHaveLength(0);
    // p2 finishes its copy; p1 is free again, but the cancelled copy is not printed again.
    end('p1', 'cancelled');
    end('p2', 'finished');
    await h.idle();
    const item = (await call('GET', '/api/v1/queue')).body.items[0];
    expect(item).toMatchObject({ copiesDone: 1, copiesCancelled: 1 });
    expect(h.fleet.driver('p1').starts.length + h.fleet.driver('p2').starts.length).toBe(3);
    // Cancelling an ended job is a conflict with a code.
    const again = await call('POST', `/api/v1/jobs/${onP1.id}/cancel`, {});
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'job_not_active' } } });
  });

  it('cancelling the whole item stops every copy and keeps it as cancelled; retry puts it back', async () => {
    const { itemId, jobs } = await twoPrinting();
    const res = await call('POST', `/api/v1/jobs/${jobs[0]!.id}/cancel`, { scope: 'item' });
    expect(res.body.item).toMatchObject({ status: 'cancelled', activeJobs: [] });
    expect(h.fleet.driver('p1').cancels + h.fleet.driver('p2').cancels).toBe(2);
    end('p1', 'cancelled');
    end('p2', 'cancelled');
    await h.idle();
    expect(h.fleet.driver('p1').starts.length + h.fleet.driver('p2').starts.length).toBe(2);
    const retried = await call('POST', `/api/v1/queue/${itemId}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ lastError: null, copiesCancelled: 0 });
    await h.idle();
    expect(h.fleet.driver('p1').starts.length + h.fleet.driver('p2').starts.length).toBe(4);
    const notAgain = await call('POST', `/api/v1/queue/${itemId}/retry`);
    expect(notAgain).toMatchObject({ status: 409, body: { error: { code: 'item_not_retryable' } } });
  });

  it('a failed copy is retried in one call (once), and a failed item in bulk', async () => {
    h = await harness();
    h.fleet.add('p1', { settings: { swapCooldownSeconds: 0 } });
    h.library.add(fileRecord('f1'));
    await h.queue.start();
    await mountRoutes();
    const item = (await call('POST', '/api/v1/queue', { fileId: 'f1' })).body;
    await h.idle();
    end('p1', 'failed');
    await h.idle();
    const failed = (await call('GET', '/api/v1/queue')).body.items[0];
    expect(failed).toMatchObject({ status: 'failed', copiesFailed: 1 });
    const [job] = (await call('GET', '/api/v1/jobs?outcome=failed')).body.items;
    expect(job).toMatchObject({
      queueItemId: item.id,
      outcome: 'failed',
      reason: 'the printer reported the job failed',
      filamentGrams: 5,
    });
    await h.queue.setRunning(true); // a failed job pauses the queue
    const retried = await call('POST', `/api/v1/jobs/${job.id}/retry`);
    expect(retried).toMatchObject({ status: 200, body: { id: item.id, status: 'waiting' } });
    const twice = await call('POST', `/api/v1/jobs/${job.id}/retry`);
    expect(twice).toMatchObject({ status: 409, body: { error: { code: 'job_not_retryable' } } });
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
    end('p1', 'failed');
    await h.idle();
    await h.queue.setRunning(true);
    const bulk = await call('POST', '/api/v1/queue/retry', {});
    expect(bulk.body.items.map((i: any) => i.status)).toEqual(['waiting']);
    // Under the `retry` policy a failed copy goes back by itself: retrying it again is refused.
    await h.queue.updateSettings({ failedCopyPolicy: 'retry' });
    await h.idle();
    end('p1', 'failed');
    await h.idle();
    const [latest] = (await call('GET', '/api/v1/jobs?outcome=failed&limit=1')).body.items;
    expect((await call('GET', '/api/v1/queue')).body.items[0].status).not.toBe('failed');
    expect(await call('POST', `/api/v1/jobs/${latest.id}/retry`)).toMatchObject({
      status: 409,
      body: { error: { code: 'job_not_retryable' } },
    });
  });

  it('editing an item: copies cannot drop below what is done, cancelled and printing', async () => {
    const { itemId, jobs } = await twoPrinting();
    await call('POST', `/api/v1/jobs/${jobs[0]!.id}/cancel`);
    const low = await call('PATCH', `/api/v1/queue/${itemId}`, { copies: 1 });
    expect(low).toMatchObject({ status: 400, body: { error: { code: 'copies_too_low', params: { min: 2 } } } });
    const ok = await call('PATCH', `/api/v1/queue/${itemId}`, { copies: 5, amsMapping: [2, 254] });
    expect(ok.body).toMatchObject({ copies: 5, amsMapping: [2, 254] });
    const bad = await call('PATCH', `/api/v1/queue/${itemId}`, { amsMapping: [300] });
    expect(bad.status).toBe(400);
  });
});

describe('print history', () => {
  it('lists jobs newest first with filters, cursor paging, CSV and totals, and keeps them across a restart', async () => {
    h = await harness();
    h.fleet.add('p1', { settings: { swapCooldownSeconds: 0 } });
    h.fleet.add('p2', { settings: { swapCooldownSeconds: 0 } });
    h.library.add(fileRecord('f1'));
    h.library.add(fileRecord('f2'));
    await h.queue.start();
    await mountRoutes();
    await h.queue.updateSettings({ failedCopyPolicy: 'retry' });
    await call('POST', '/api/v1/queue', { fileId: 'f1', copies: 2, printerIds: ['p1'] });
    await call('POST', '/api/v1/queue', { fileId: 'f2', copies: 1, printerIds: ['p2'] });
    await h.idle();
    h.clock.advance(600_000);
    end('p1', 'finished'); // f1 done on p1, 600 s, 10 g
    h.clock.advance(1000);
    end('p2', 'failed'); // f2 failed on p2 after 601 s (copy goes back: policy retry)
    await h.idle();
    await h.queue.setRunning(true);
    await h.idle();
    h.clock.advance(300_000);
    end('p1', 'finished'); // second f1 copy
    await h.idle();
    const started = h.fleet.driver('p2').starts.length;
    expect(started).toBe(2);
    h.clock.advance(1000);
    const running = (await call('GET', '/api/v1/queue')).body.items.find((i: any) => i.fileId === 'f2').activeJobs[0];
    await call('POST', `/api/v1/jobs/${running.id}/cancel`, { scope: 'copy' });
    await h.idle();

    const all = (await call('GET', '/api/v1/jobs')).body;
    expect(all.next).toBeNull();
    expect(all.items.map((j: any) => [j.fileId, j.printerId, j.outcome])).toEqual([
      ['f2', 'p2', 'cancelled'],
      ['f1', 'p1', 'done'],
      ['f2', 'p2', 'failed'],
      ['f1', 'p1', 'done'],
    ]);
    const first = all.items[3];
    expect(first).toMatchObject({
      printerName: 'printer-p1',
      fileName: 'f1.gcode.3mf',
      plate: 1,
      durationSeconds: 600,
      filamentGrams: 10,
      cancelledBy: null,
      reason: null,
    });
    expect(Date.parse(first.endedAt) - Date.parse(first.startedAt)).toBe(600_000);
    expect(all.items[0]).toMatchObject({ cancelledBy: 'alice', outcome: 'cancelled' });

    // Filters and paging (newest first, two at a time).
    expect((await call('GET', '/api/v1/jobs?printerId=p1')).body.items).toHaveLength(2);
    expect((await call('GET', '/api/v1/jobs?fileId=f2&outcome=failed')).body.items).toHaveLength(1);
    expect(
      (await call('GET', `/api/v1/jobs?from=${encodeURIComponent(all.items[1].endedAt)}`)).body.items,
    ).toHaveLength(2);
    const to = encodeURIComponent(all.items[3].endedAt);
    expect((await call('GET', `/api/v1/jobs?to=${to}`)).body.items).toHaveLength(1);
    const page1 = (await call('GET', '/api/v1/jobs?limit=2')).body;
    const page2 = (await call('GET', `/api/v1/jobs?limit=2&cursor=${page1.next}`)).body;
    expect([...page1.items, ...page2.items].map((j: any) => j.id)).toEqual(all.items.map((j: any) => j.id));
    expect(page2.next).toBeNull();
    expect((await call('GET', '/api/v1/jobs?cursor=garbage')).status).toBe(400);
    expect((await call('GET', '/api/v1/jobs?from=yesterday')).status).toBe(400);

    // CSV: the same columns, a header row, one line per job.
    const csv = await call('GET', '/api/v1/jobs?format=csv');
    expect(csv.type).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe(
      'id,printerId,printerName,queueItemId,fileId,fileName,plate,startedAt,endedAt,durationSeconds,outcome,reason,filamentGrams,cancelledBy',
    );
    expect(lines).toHaveLength(5);
    expect(lines[4]).toContain(',f1,f1.gcode.3mf,1,');
    expect(lines[4]).toContain(',600,done,,10,');

    // Totals for the farm and per printer.
    const stats = (await call('GET', '/api/v1/jobs/stats')).body;
    expect(stats).toMatchObject({
      prints: 4,
      done: 2,
      failed: 1,
      cancelled: 1,
      unknown: 0,
      filamentGrams: 20 + 5,
      successRate: 0.6667,
    });
    // (the cancelled copy never showed progress, so its filament is unknown and not counted)
    expect(stats.printSeconds).toBe(600 + 601 + 300 + 301);
    expect(stats.printers.find((p: any) => p.printerId === 'p1')).toMatchObject({
      prints: 2,
      done: 2,
      successRate: 1,
      printSeconds: 900,
    });
    expect((await call('GET', '/api/v1/jobs/stats?printerId=p2')).body).toMatchObject({
      prints: 2,
      failed: 1,
      cancelled: 1,
      successRate: 0,
    });

    // Restart on the same SQLite file: the history is still there (and the job by id).
    await app!.close();
    app = null;
    await h.restart();
    await mountRoutes();
    const after = (await call('GET', '/api/v1/jobs')).body;
    expect(after.items.map((j: any) => j.id)).toEqual(all.items.map((j: any) => j.id));
    expect((await call('GET', `/api/v1/jobs/${first.id}`)).body).toMatchObject({
      outcome: 'done',
      durationSeconds: 600,
    });
    expect((await call('GET', '/api/v1/jobs/stats')).body.prints).toBe(4);
  });
});
