import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/auth/auth-service.ts';
import { LoginRateLimiter } from '../../src/auth/rate-limit.ts';
import { buildApp } from '../../src/http/app.ts';
import { fileRoutes, octoprintCompatRoutes } from '../../src/library/routes.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { fixture, makeLibrary, pixelsOf, type TestLibrary } from './helpers.ts';
import { sliced3mf } from './zip-writer.ts';

/** The library's routes inside the real app (auth, error handler, multipart), over real HTTP. */
const MAX_UPLOAD = 400 * 1024;
let t: TestLibrary;
let app: FastifyInstance;
let base: string;
let operatorKey: string;
let viewerKey: string;
const printRequests: string[] = [];

beforeAll(async () => {
  t = await makeLibrary({ maxUploadBytes: MAX_UPLOAD });
  const auth = new AuthService({
    db: t.storage.db,
    clock: t.clock,
    jwtKey: crypto.randomBytes(32),
    accessTtlSeconds: 900,
    refreshTtlSeconds: 3600,
  });
  operatorKey = (await auth.createApiKey('slicer', 'operator', null)).key;
  viewerKey = (await auth.createApiKey('wall display', 'viewer', null)).key;
  app = await buildApp({
    logger: silentLogger(),
    auth,
    rateLimiter: new LoginRateLimiter(t.clock, 5, 60_000),
    version: 'test',
    maxUploadBytes: MAX_UPLOAD,
    routes: [
      { prefix: '/api/v1', plugin: fileRoutes, opts: { library: t.library } },
      {
        prefix: '',
        plugin: octoprintCompatRoutes,
        opts: { library: t.library, onPrintRequested: async (id: string) => void printRequests.push(id) },
      },
    ],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});

afterAll(async () => {
  await app?.close();
  await t?.close();
});

function form(name: string, bytes: Buffer, fields: Record<string, string> = {}, fieldName = 'file'): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  f.append(fieldName, new Blob([new Uint8Array(bytes)]), name);
  return f;
}

async function call(method: string, url: string, opts: { key?: string | null; body?: FormData | object; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.key !== null) headers['X-Api-Key'] = opts.key ?? operatorKey;
  let body: RequestInit['body'];
  if (opts.body instanceof FormData) body = opts.body;
  else if (opts.body) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + url, { method, headers, body });
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer());
  return { status: res.status, body: data as any, headers: res.headers };
}

const A1 = 'fdm-monster.bambu.gcode.3mf';

describe('/api/v1/files', () => {
  let fileId: string;

  it('uploads a .gcode.3mf: 201 with the record and a Location', async () => {
    const res = await call('POST', '/api/v1/files', { body: form(A1, fs.readFileSync(fixture(A1))) });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: A1, size: 48350, printerModel: 'A1 mini', nozzleDiameter: 0.4, kind: '3mf' });
    expect(res.body.plates[0]).toMatchObject({ index: 1, estimatedSeconds: 1095, gcodePath: 'Metadata/plate_1.gcode' });
    fileId = res.body.id;
    expect(res.headers.get('location')).toBe(`/api/v1/files/${fileId}`);
    expect(res.headers.get('x-deduplicated')).toBeNull();
  });

  it('answers a second upload of the same bytes with the same record (201, X-Deduplicated)', async () => {
    const res = await call('POST', '/api/v1/files', { body: form('copy.gcode.3mf', fs.readFileSync(fixture(A1))) });
    expect(res.status).toBe(201);
    expect(res.body.id).toBe(fileId);
    expect(res.body.name).toBe(A1);
    expect(res.headers.get('x-deduplicated')).toBe('true');
  });

  it('lists with search and sort, and gets one', async () => {
    await call('POST', '/api/v1/files', { body: form('zzz.gcode.3mf', sliced3mf()) });
    const all = await call('GET', '/api/v1/files?sort=name&order=asc', { key: viewerKey });
    expect(all.status).toBe(200);
    expect(all.body.map((f: any) => f.name)).toEqual([A1, 'zzz.gcode.3mf']);
    const found = await call('GET', '/api/v1/files?search=ZZZ');
    expect(found.body.map((f: any) => f.name)).toEqual(['zzz.gcode.3mf']);
    expect((await call('GET', `/api/v1/files/${fileId}`)).body.id).toBe(fileId);
    expect((await call('GET', '/api/v1/files/unknown')).status).toBe(404);
    expect((await call('GET', '/api/v1/files?sort=colour')).status).toBe(400);
  });

  it('serves the thumbnail with an ETag and answers 304 to If-None-Match', async () => {
    const url = `/api/v1/files/${fileId}/plates/1/thumbnail`;
    const res = await call('GET', url, { key: viewerKey });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    // Re-encoded through sharp: the same picture as the file's plate_1.png, as a PNG.
    const served = await pixelsOf(res.body as Buffer);
    expect(served).toMatchObject({ format: 'png', width: 512, height: 512 });
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{64}-1"$/);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const again = await call('GET', url, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect((again.body as Buffer).length).toBe(0);
    expect((await call('GET', `/api/v1/files/${fileId}/plates/2/thumbnail`)).status).toBe(404);
  });

  it('renames with PATCH', async () => {
    const res = await call('PATCH', `/api/v1/files/${fileId}`, { body: { name: 'mini cube.gcode.3mf' } });
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('mini cube.gcode.3mf');
    expect((await call('PATCH', `/api/v1/files/${fileId}`, { body: { name: 'no extension' } })).status).toBe(400);
    expect((await call('PATCH', `/api/v1/files/${fileId}`, { key: viewerKey, body: { name: 'x.gcode.3mf' } })).status).toBe(403);
  });

  it('refuses hostile and unsliced files with 400 and the error shape', async () => {
    const res = await call('POST', '/api/v1/files', {
      body: form('fdm-monster.bambu-2-plates.3mf', fs.readFileSync(fixture('fdm-monster.bambu-2-plates.3mf'))),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_file');
    expect(res.body.error.message).toContain('slice the plate and export a plate sliced file');
    const evil = await call('POST', '/api/v1/files', { body: form('x.gcode.3mf', sliced3mf([{ name: '../evil', data: 'x' }])) });
    expect(evil.status).toBe(400);
    expect((await call('POST', '/api/v1/files', { body: form('x.gcode', Buffer.from('G28'), {}, 'upload') })).status).toBe(400);
    expect((await call('POST', '/api/v1/files', { body: { not: 'multipart' } })).status).toBe(400);
  });

  it('answers 413 over the upload limit', async () => {
    const res = await call('POST', '/api/v1/files', { body: form('big.gcode', Buffer.alloc(MAX_UPLOAD + 1000, 0x47)) });
    expect(res.status).toBe(413);
    expect(res.body.error.message).toMatch(/limit/);
    expect(fs.readdirSync(`${t.dataDir}/files/.incoming`)).toEqual([]);
  });

  it('cleans up when the client drops the connection in the middle of an upload', async () => {
    const boundary = 'xxBOUNDARYxx';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="half.gcode"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const port = new URL(base).port;
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(
      `POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: ${operatorKey}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 300000\r\n\r\n${head}`,
    );
    socket.write(Buffer.alloc(100_000, 0x47));
    const incoming = `${t.dataDir}/files/.incoming`;
    for (let i = 0; i < 200 && fs.readdirSync(incoming).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fs.readdirSync(incoming)).toHaveLength(1);
    socket.destroy();
    for (let i = 0; i < 200 && fs.readdirSync(incoming).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(fs.readdirSync(incoming)).toEqual([]);
    expect((await call('GET', '/api/v1/files?search=half')).body).toEqual([]);
  });

  it('deletes: 409 while a waiting queue item uses the file, then 204', async () => {
    const now = new Date().toISOString();
    await t.storage.db
      .insertInto('queue_items')
      .values({ id: 'q1', file_id: fileId, plate: 1, copies: 1, copies_done: 0, status: 'waiting', position: 0, overrides_json: '{}', printer_ids_json: '[]', last_error: null, created_at: now, updated_at: now })
      .execute();
    const blocked = await call('DELETE', `/api/v1/files/${fileId}`);
    expect(blocked.status).toBe(409);
    expect(blocked.body.error.message).toMatch(/queue/);
    await t.storage.db.deleteFrom('queue_items').where('id', '=', 'q1').execute();
    expect((await call('DELETE', `/api/v1/files/${fileId}`)).status).toBe(204);
    expect((await call('GET', `/api/v1/files/${fileId}`)).status).toBe(404);
  });

  it('needs credentials', async () => {
    expect((await call('GET', '/api/v1/files', { key: null })).status).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await call('GET', '/api/v1/openapi.json')).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/files', '/api/v1/files/{id}', '/api/v1/files/{id}/plates/{index}/thumbnail', '/api/version', '/api/files/local']),
    );
  });
});

describe('OctoPrint-compatible upload (slicers)', () => {
  it('answers /api/version like OctoPrint', async () => {
    const res = await call('GET', '/api/version');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ api: '0.1', server: '1.10.0', text: 'OctoPrint 1.10.0 (RealWorldClaw)' });
  });

  it('needs the X-Api-Key', async () => {
    expect((await call('GET', '/api/version', { key: null })).status).toBe(401);
    expect((await call('GET', '/api/version', { key: 'rwc_wrong' })).status).toBe(401);
  });

  it('takes a PrusaSlicer-style upload (print=false, path) into the library', async () => {
    const gcode = '; generated by PrusaSlicer 2.8.1 on 2025-01-01\nG28\n; estimated printing time (normal mode) = 10m\n';
    const res = await call('POST', '/api/files/local', { body: form('part.gcode', Buffer.from(gcode), { print: 'false', path: '' }) });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ done: true, effectivePrint: false, files: { local: { name: 'part.gcode', origin: 'local' } } });
    expect(res.headers.get('location')).toMatch(/\/api\/files\/local\/part\.gcode$/);
    const listed = (await call('GET', '/api/v1/files?search=part.gcode')).body;
    expect(listed[0].plates[0].estimatedSeconds).toBe(600);
    expect(printRequests).toEqual([]);
  });

  it('puts the file in the queue when print=true (fields after the file too)', async () => {
    const f = new FormData();
    f.append('file', new Blob([new Uint8Array(sliced3mf([{ name: 'Metadata/extra.txt', data: 'orca' }]))]), 'orca.gcode.3mf');
    f.append('print', 'true');
    const res = await call('POST', '/api/files/local', { body: f });
    expect(res.status).toBe(201);
    expect(res.body.effectivePrint).toBe(true);
    const file = (await call('GET', '/api/v1/files?search=orca')).body[0];
    expect(printRequests).toEqual([file.id]);
  });

  it('accepts Cura\'s follow-up select/print on the Location it was given', async () => {
    const up = await call('POST', '/api/files/local', { body: form('cura part.gcode', Buffer.from(';TIME:60\nG28\n')) });
    const location = new URL(up.headers.get('location')!);
    expect(location.pathname).toBe('/api/files/local/cura%20part.gcode');
    const before = printRequests.length;
    const sel = await call('POST', location.pathname, { body: { command: 'select', print: true } });
    expect(sel.status).toBe(204);
    expect(printRequests.slice(before)).toEqual([up.body.files.local.refs.download.split('/').pop()]);
    expect((await call('POST', '/api/files/local/missing.gcode', { body: { command: 'select' } })).status).toBe(404);
    expect((await call('POST', location.pathname, { body: { command: 'slice' } })).status).toBe(400);
  });

  it('refuses a viewer key and a non-G-code file', async () => {
    expect((await call('POST', '/api/files/local', { key: viewerKey, body: form('x.gcode', Buffer.from('G28\n')) })).status).toBe(403);
    const stl = await call('POST', '/api/files/local', { body: form('x.stl', Buffer.from('solid')) });
    expect(stl.status).toBe(400);
    expect(stl.body.error.message).toMatch(/unsupported file type/);
  });
});
