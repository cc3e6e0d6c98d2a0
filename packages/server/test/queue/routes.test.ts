import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainError } from '../../src/errors.ts';
import { httpStatusOf } from '../../src/http/errors.ts';
import { queueRoutes } from '../../src/queue/routes.ts';
import { type Harness, fileRecord, harness } from './helpers.ts';

let h: Harness;
let app: FastifyInstance;

afterEach(async () => {
  await app?.close();
  await h?.close();
});

/** The queue plugin under /api/v1 with the app's error shape (ApiError and schema validation). */
async function setup() {
  h = await harness();
  h.fleet.add('p1');
  h.library.add(fileRecord('f1'));
  await h.queue.start();
  await h.queue.setRunning(false);
  app = Fastify();
  app.setErrorHandler((err: any, _req, reply) => {
    if (err instanceof DomainError)
      return reply.status(httpStatusOf(err)).send({ error: { code: err.code, message: err.message } });
    if (err.validation) {
      return reply
        .status(400)
        .send({ error: { code: 'validation_error', message: `${err.validationContext} ${err.message}` } });
    }
    return reply.status(500).send({ error: { code: 'internal_error', message: String(err.message) } });
  });
  await app.register(queueRoutes, { prefix: '/api/v1', queue: h.queue });
  await app.ready();
}

const call = async (method: string, url: string, payload?: unknown) => {
  const res = await app.inject({
    method: method as any,
    url,
    ...(payload !== undefined ? { payload: payload as any } : {}),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null };
};

describe('queue routes', () => {
  it('add, list, edit, reorder, delete, clear', async () => {
    await setup();
    const a = await call('POST', '/api/v1/queue', { fileId: 'f1', copies: 2, overrides: { timelapse: true } });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      fileId: 'f1',
      fileName: 'f1.gcode.3mf',
      plate: 1,
      copies: 2,
      copiesDone: 0,
      status: 'waiting',
      overrides: { bedLeveling: true, flowCalibration: true, timelapse: true },
      printerIds: null,
      estimatedSeconds: 600,
      currentPrinterId: null,
      lastError: null,
    });
    const b = await call('POST', '/api/v1/queue', { fileId: 'f1', printerIds: ['p1'] });
    const list = await call('GET', '/api/v1/queue');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ running: false, remainingSeconds: 1800 });
    expect(typeof list.body.finishAt).toBe('string');
    expect(list.body.items.map((i: any) => i.id)).toEqual([a.body.id, b.body.id]);
    expect(list.body.items[0].estimatedStartAt).toEqual(expect.any(String));
    const patched = await call('PATCH', `/api/v1/queue/${a.body.id}`, { copies: 5 });
    expect(patched).toMatchObject({ status: 200, body: { copies: 5 } });
    const reordered = await call('POST', '/api/v1/queue/reorder', { ids: [b.body.id, a.body.id] });
    expect(reordered.status).toBe(200);
    expect(reordered.body.items.map((i: any) => i.id)).toEqual([b.body.id, a.body.id]);
    expect((await call('DELETE', `/api/v1/queue/${b.body.id}`)).status).toBe(204);
    expect((await call('DELETE', '/api/v1/queue')).status).toBe(204);
    expect((await call('GET', '/api/v1/queue')).body.items).toEqual([]);
  });

  it('start/pause and the failed-copy policy', async () => {
    await setup();
    expect(await call('POST', '/api/v1/queue/start')).toEqual({ status: 200, body: { running: true } });
    expect(await call('POST', '/api/v1/queue/pause')).toEqual({ status: 200, body: { running: false } });
    expect(await call('GET', '/api/v1/queue/settings')).toEqual({ status: 200, body: { failedCopyPolicy: 'fail' } });
    expect(await call('PUT', '/api/v1/queue/settings', { failedCopyPolicy: 'retry' })).toEqual({
      status: 200,
      body: { failedCopyPolicy: 'retry' },
    });
    expect((await call('PUT', '/api/v1/queue/settings', { failedCopyPolicy: 'maybe' })).status).toBe(400);
  });

  it('400 names the field, 404 for unknown ids, 409 for wrong state', async () => {
    await setup();
    const noFile = await call('POST', '/api/v1/queue', { copies: 2 });
    expect(noFile.status).toBe(400);
    expect(noFile.body.error.message).toContain('fileId');
    const badCopies = await call('POST', '/api/v1/queue', { fileId: 'f1', copies: 0 });
    expect(badCopies.status).toBe(400);
    expect(badCopies.body.error.message).toContain('copies');
    const badPrinter = await call('POST', '/api/v1/queue', { fileId: 'f1', printerIds: ['ghost'] });
    expect(badPrinter.status).toBe(400);
    expect(badPrinter.body.error.message).toMatch(/^printerIds:/);
    expect((await call('POST', '/api/v1/queue', { fileId: 'missing' })).status).toBe(404);
    expect((await call('PATCH', '/api/v1/queue/nope', { copies: 2 })).status).toBe(404);
    expect((await call('DELETE', '/api/v1/queue/nope')).status).toBe(404);
    expect((await call('POST', '/api/v1/queue/reorder', { ids: ['nope'] })).status).toBe(404);
    expect((await call('POST', '/api/v1/printers/ghost/plate-cleared')).status).toBe(404);

    const item = (await call('POST', '/api/v1/queue', { fileId: 'f1' })).body;
    await call('POST', '/api/v1/queue/start');
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    const printing = await call('DELETE', `/api/v1/queue/${item.id}`);
    expect(printing.status).toBe(409);
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    h.fleet.setState('p1', { status: 'printing', job: { jobId, fileName: 'f1.gcode.3mf', plate: 1 } });
    h.fleet.setState('p1', { status: 'idle', job: null, lastJob: { jobId, outcome: 'finished', at: h.clock.now() } });
    await h.idle();
    const done = await call('PATCH', `/api/v1/queue/${item.id}`, { copies: 3 });
    expect(done.status).toBe(409);
  });

  it('DELETE ?cancel=true cancels the print on the printer', async () => {
    await setup();
    const item = (await call('POST', '/api/v1/queue', { fileId: 'f1' })).body;
    await call('POST', '/api/v1/queue/start');
    await h.idle();
    h.fleet.setState('p1', {
      status: 'printing',
      job: { jobId: h.fleet.driver('p1').starts[0]!.jobId, fileName: null, plate: 1 },
    });
    expect((await call('DELETE', `/api/v1/queue/${item.id}?cancel=true`)).status).toBe(204);
    expect(h.fleet.driver('p1').cancels).toBe(1);
  });

  it('plate-cleared opens a gate that waits for the user', async () => {
    await setup();
    h.fleet.printers.get('p1')!.summary.settings.requirePlateClear = true;
    h.fleet.printers.get('p1')!.summary.settings.swapCooldownSeconds = 0;
    const item = (await call('POST', '/api/v1/queue', { fileId: 'f1', copies: 2 })).body;
    await call('POST', '/api/v1/queue/start');
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    h.fleet.setState('p1', { status: 'printing', job: { jobId, fileName: null, plate: 1 } });
    h.fleet.setState('p1', { status: 'idle', job: null, lastJob: { jobId, outcome: 'finished', at: h.clock.now() } });
    await h.idle();
    expect(h.queue.gateFor('p1')).toEqual({
      open: false,
      code: 'plate_clear_wanted',
      reason: 'waiting for the user to confirm the plate is clear',
      params: {},
    });
    const res = await call('POST', '/api/v1/printers/p1/plate-cleared');
    expect(res).toEqual({ status: 200, body: { printerId: 'p1', gate: { open: true, code: null, reason: null, params: {} } } });
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
    expect(h.queue.queueItemIdFor('p1')).toBe(item.id);
  });

  it('every route carries schemas for OpenAPI', async () => {
    await setup();
    const routes: { method: string; url: string; schema: any }[] = [];
    const probe = Fastify();
    probe.addHook('onRoute', (r) => {
      routes.push({ method: String(r.method), url: r.url, schema: r.schema });
    });
    await probe.register(queueRoutes, { prefix: '/api/v1', queue: h.queue });
    await probe.ready();
    expect(routes.length).toBeGreaterThanOrEqual(11);
    for (const r of routes.filter((x) => x.method !== 'HEAD')) {
      expect(r.schema?.response, `${r.method} ${r.url}`).toBeDefined();
      if (r.url.includes(':id')) expect(r.schema.params, `${r.method} ${r.url}`).toBeDefined();
      if (['POST', 'PATCH', 'PUT'].includes(r.method) && !/start|pause|plate-cleared/.test(r.url))
        expect(r.schema.body, `${r.method} ${r.url}`).toBeDefined();
    }
    await probe.close();
  });
});
