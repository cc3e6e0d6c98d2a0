/**
 * Hostile input against every route the OpenAPI document lists, authenticated as admin: no body,
 * `null`, arrays, wrong types for each documented field, 100 KB strings, unknown ids, `../` and
 * unicode in path params, invalid JSON, wrong content types. The server must never answer 5xx,
 * every error must have the documented shape, and it must still be healthy afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type TestDialect, type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

interface Operation {
  method: string;
  path: string;
  params: string[];
  body: any | null;
}

interface Probe {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  what: string;
  /** The body field this probe breaks: a 400 must name it. */
  field?: string;
}

const HUGE = 'x'.repeat(100 * 1024);
const HOSTILE_IDS = [
  'nope',
  '..%2F..%2Fetc%2Fpasswd',
  '..',
  '%E2%98%83%20%C3%BC%F0%9F%96%A8',
  '%00',
  'a'.repeat(300),
  'b'.repeat(1200),
  '%E0%A4%A',
  '%25',
];

/** A value of the wrong type for a JSON-schema property. */
function wrongTypes(schema: any): unknown[] {
  const type = schema?.type;
  switch (type) {
    case 'string':
      return [12345, HUGE, { nested: true }, 'nul\u0000byte'];
    case 'integer':
    case 'number':
      return ['12', -1e300, [1]];
    case 'boolean':
      return ['yes', 1];
    case 'array':
      return [{}, [12345, null], 'a,b'];
    case 'object':
      return [[], 'text', null];
    default:
      return [null, HUGE, { $gt: '' }];
  }
}

function operationsOf(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [p, methods] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const params = (op.parameters ?? []).filter((x: any) => x.in === 'path').map((x: any) => x.name as string);
      const body = op.requestBody?.content?.['application/json']?.schema ?? null;
      ops.push({ method: method.toUpperCase(), path: p, params, body });
    }
  }
  return ops;
}

function probesFor(op: Operation, realIds: Record<string, string>): Probe[] {
  const out: Probe[] = [];
  const fill = (value: (name: string) => string) => op.path.replace(/\{(\w+)\}/g, (_m, name) => value(name));
  const json = { 'content-type': 'application/json' };
  // Writes through real ids would delete the fixtures; writes go to unknown ids, bodies to real ones.
  const bodyUrl = fill((n) => (op.method === 'DELETE' ? 'nope' : (realIds[`${op.path}:${n}`] ?? realIds[n] ?? 'nope')));

  for (const id of op.params.length ? HOSTILE_IDS : []) {
    const url = fill((n) => (n === 'index' ? (id === 'nope' ? '1' : id) : id));
    out.push({ method: op.method, url, headers: op.body ? json : {}, body: op.body ? '{}' : undefined, what: `path ${id.slice(0, 20)}` });
  }
  if (op.method === 'GET' || op.method === 'DELETE') {
    if (op.method === 'GET') out.push({ method: 'GET', url: `${bodyUrl}?limit=-1&sort=%00&search=${'y'.repeat(5000)}`, headers: {}, what: 'bad query' });
    return out;
  }
  const raw = (body: string | undefined, headers: Record<string, string>, what: string, field?: string) =>
    out.push({ method: op.method, url: bodyUrl, headers, body, what, field });
  raw(undefined, {}, 'no body');
  raw('null', json, 'null');
  raw('[]', json, 'array');
  raw('"text"', json, 'string');
  raw('42', json, 'number');
  raw('{"a":', json, 'invalid JSON');
  raw('{}', { 'content-type': 'text/plain' }, 'text/plain');
  raw('<x/>', { 'content-type': 'application/xml' }, 'xml');
  raw('garbage', { 'content-type': 'multipart/form-data' }, 'multipart without boundary');
  raw('--b\r\ngarbage', { 'content-type': 'multipart/form-data; boundary=b' }, 'broken multipart');
  raw(JSON.stringify({ x: HUGE }), json, 'huge unknown field');
  const props: Record<string, any> = op.body?.properties ?? {};
  for (const [field, schema] of Object.entries(props)) {
    for (const v of wrongTypes(schema)) {
      raw(JSON.stringify({ [field]: v }), json, `${field}=${JSON.stringify(v).slice(0, 20)}`, field);
    }
    for (const [inner, innerSchema] of Object.entries<any>(schema?.properties ?? {})) {
      raw(JSON.stringify({ [field]: { [inner]: wrongTypes(innerSchema)[0] } }), json, `${field}.${inner}`, field);
    }
  }
  return out;
}

describe.each<TestDialect>(['sqlite', 'postgres'])('hostile input against every OpenAPI route (%s)', (dialect) => {
  let s: TestServer;
  let token: string;
  let probes: Probe[] = [];

  beforeAll(async () => {
    // The demo adds simulated printers and library files: real ids to aim bodies at.
    s = await startTestServer({ dialect, config: { demo: true, maxUploadBytes: 256 * 1024 } });
    token = (await setupAdmin(s)).accessToken;
    const auth = { token };
    const printers = (await s.api('GET', '/api/v1/printers', auth)).body;
    const files = (await s.api('GET', '/api/v1/files', auth)).body;
    expect(printers.length).toBeGreaterThan(0);
    expect(files.length).toBeGreaterThan(0);
    await s.api('POST', '/api/v1/queue/pause', auth);
    const item = await s.api('POST', '/api/v1/queue', { ...auth, body: { fileId: files[0].id } });
    expect(item.status).toBe(201);
    const realIds: Record<string, string> = {
      '/api/v1/printers/{id}:id': printers[0].id,
      '/api/v1/printers/{id}/control:id': printers[0].id,
      '/api/v1/printers/{id}/plate-cleared:id': printers[0].id,
      '/api/v1/files/{id}:id': files[0].id,
      '/api/v1/queue/{id}:id': item.body.id,
      name: files[0].name,
      index: '1',
    };
    const doc = (await s.api('GET', '/api/v1/openapi.json')).body;
    const ops = operationsOf(doc);
    expect(ops.length).toBeGreaterThan(30);
    probes = ops.flatMap((op) => probesFor(op, realIds));
  });
  afterAll(async () => s?.destroy());

  it('never answers 5xx; every error has the {"error":{code,message}} shape', async () => {
    expect(probes.length).toBeGreaterThan(200);
    expect(probes.length).toBeLessThan(1500);
    const failures: string[] = [];
    for (const p of probes) {
      const res = await fetch(s.url + p.url, {
        method: p.method,
        headers: { ...p.headers, authorization: `Bearer ${token}` },
        body: p.body,
      });
      const text = await res.text();
      const tag = `${p.method} ${p.url.slice(0, 80)} [${p.what}] → ${res.status} ${text.slice(0, 160)}`;
      if (res.status >= 500) {
        failures.push(tag);
        continue;
      }
      if (res.status >= 400) {
        let body: any = null;
        try {
          body = JSON.parse(text);
        } catch {}
        const e = body?.error;
        if (!(typeof e?.code === 'string' && /^[a-z][a-z0-9_]*$/.test(e.code) && typeof e.message === 'string' && e.message.length > 0)) {
          failures.push(`bad error shape: ${tag}`);
        } else if (res.status === 400 && p.field && e.code === 'validation_error' && !e.message.includes(p.field)) {
          // A wrong type for one field, alone in the body: the 400 names that field (or the one missing).
          if (!/required/.test(e.message)) failures.push(`400 does not name ${p.field}: ${tag}`);
        }
      }
    }
    expect(failures).toEqual([]);
    // ~750 requests one after another: room for a busy machine (this measures no speed).
  }, 240_000);

  it('unknown ids answer 404 on every GET by id', async () => {
    for (const url of ['/api/v1/printers/nope', '/api/v1/files/nope', '/api/v1/files/nope/plates/1/thumbnail', '/api/v1/printers/nope/snapshot']) {
      const r = await s.api('GET', url, { token });
      expect(r.status, url).toBe(404);
      expect(r.body.error.code).toEqual(expect.any(String));
    }
    for (const [m, url] of [
      ['DELETE', '/api/v1/printers/nope'],
      ['DELETE', '/api/v1/files/nope'],
      ['DELETE', '/api/v1/queue/nope'],
      ['DELETE', '/api/v1/api-keys/nope'],
      ['DELETE', '/api/v1/users/nope'],
      ['PATCH', '/api/v1/queue/nope'],
      ['PATCH', '/api/v1/printers/nope'],
    ] as const) {
      const r = await s.api(m, url, { token, body: m === 'PATCH' ? {} : undefined });
      expect(r.status, `${m} ${url}`).toBe(404);
    }
  });

  it('NUL characters and out-of-range numbers in queries and bodies are 400s naming the field', async () => {
    for (const [url, field] of [
      ['/api/v1/events?before=99999999999999999999', 'before'],
      ['/api/v1/events?printerId=a%00b', 'printerId'],
      ['/api/v1/files?search=%00', 'search'],
      ['/api/v1/files/a%00b', 'id'],
    ]) {
      const r = await s.api('GET', url!, { token });
      expect(r.status, url).toBe(400);
      expect(r.body.error.message, url).toContain(field!);
    }
    const r = await s.api('POST', '/api/v1/printers', { token, body: { name: 'a\u0000b', driver: 'simulated-marlin', connection: {} } });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain('body.name');
    // Schema errors carry params.field like the DomainError ones, so the UI translates both alike.
    expect(r.body.error.params).toEqual({ field: 'body.name' });
    const schema = await s.api('POST', '/api/v1/queue', { token, body: { fileId: 5 } });
    expect(schema.body.error).toMatchObject({ code: 'validation_error', params: { field: 'body.fileId' } });
    const nested = await s.api('POST', '/api/v1/queue', { token, body: { fileId: 'x', printerIds: ['ok', 'n\u0000'] } });
    expect(nested.status).toBe(400);
    expect(nested.body.error.message).toContain('printerIds');
  });

  it('an empty body sent as application/json counts as no body', async () => {
    const send = (method: string, url: string) =>
      fetch(s.url + url, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
    expect((await send('POST', '/api/v1/queue/pause')).status).toBe(200);
    expect((await send('DELETE', '/api/v1/files/nope')).status).toBe(404);
    expect((await send('DELETE', '/api/v1/queue/nope')).status).toBe(404);
    const needsBody = await send('POST', '/api/v1/queue');
    expect(needsBody.status).toBe(400);
    expect(((await needsBody.json()) as any).error.message).toContain('body');
  });

  it('router-level refusals (long or badly encoded path params) use the error shape too', async () => {
    const long = await s.api('GET', `/api/v1/printers/${'a'.repeat(300)}`, { token });
    expect(long.status).toBe(400);
    expect(long.body.error.message).toContain('id');
    const huge = await s.api('GET', `/api/v1/printers/${'b'.repeat(1200)}`, { token });
    expect(huge.status).toBe(414);
    expect(huge.body.error).toMatchObject({ code: 'uri_too_long', message: expect.any(String) });
    const bad = await s.api('GET', '/api/v1/files/%E0%A4%A', { token });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'bad_url', message: expect.any(String) });
  });

  it('a malformed multipart upload is a 400, not a server error', async () => {
    for (const [ct, body] of [
      ['multipart/form-data', 'garbage'],
      ['multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="file"; filename="a.gcode"\r\n\r\nG28\n'],
    ]) {
      for (const url of ['/api/v1/files', '/api/files/local']) {
        const r = await s.api('POST', url, { token, headers: { 'content-type': ct! }, body: undefined });
        expect(r.status, `${url} ${ct}`).toBeLessThan(500);
        const res = await fetch(s.url + url, { method: 'POST', headers: { 'content-type': ct!, authorization: `Bearer ${token}` }, body });
        const json = (await res.json()) as any;
        expect(res.status, `${url} ${ct}`).toBe(400);
        expect(json.error.message).toContain('file');
      }
    }
  });

  it('hostile multipart uploads: odd file names, extra parts, no file', async () => {
    const gcode = (tag: string) => new Blob([`;FLAVOR:Marlin\n;TIME:60\nG28\nG1 X1 ; ${tag}\n`]);
    const cases: Array<[string, () => FormData]> = [];
    for (const name of ['', '../../etc/passwd.gcode', '..\\..\\evil.gcode', 'тест 🖨.gcode', `${'a'.repeat(5000)}.gcode`, 'a\u0000b.gcode', 'noext', '.gcode']) {
      cases.push([`name ${JSON.stringify(name.slice(0, 24))}`, () => {
        const f = new FormData();
        f.append('file', gcode(name.slice(0, 30)), name);
        return f;
      }]);
    }
    cases.push(['text field only', () => {
      const f = new FormData();
      f.append('file', 'just text');
      return f;
    }]);
    cases.push(['two files', () => {
      const f = new FormData();
      f.append('file', gcode('one'), 'one.gcode');
      f.append('file', gcode('two'), 'two.gcode');
      return f;
    }]);
    cases.push(['wrong field', () => {
      const f = new FormData();
      f.append('upload', gcode('w'), 'w.gcode');
      return f;
    }]);
    for (const url of ['/api/v1/files', '/api/files/local']) {
      for (const [what, form] of cases) {
        const r = await s.api('POST', url, { token, body: form() });
        expect(r.status, `${url} ${what}: ${JSON.stringify(r.body)}`).toBeLessThan(500);
        if (r.status >= 400) {
          expect(r.body.error.message.length, `${url} ${what}`).toBeGreaterThan(0);
        } else if (url === '/api/v1/files') {
          // A stored name never carries a path or a control character.
          expect(r.body.name, what).not.toMatch(/[/\\\u0000-\u001f]/);
        }
      }
    }
  });

  it('the WebSocket refuses forged tokens and survives garbage and oversized messages', async () => {
    const base = `${s.url.replace('http', 'ws')}/api/v1/ws`;
    const open = (url: string, protocols?: string[]) =>
      new Promise<{ ws: WebSocket; first: Promise<string> } | number>((resolve) => {
        const ws = new WebSocket(url, protocols);
        const first = new Promise<string>((r) => ws.once('message', (m) => r(String(m))));
        ws.once('open', () => resolve({ ws, first }));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', () => resolve(-1));
      });
    for (const bad of ['?token=', '?token=a.b.c', `?token=${'x'.repeat(5000)}`, '?token=%00%ff']) {
      expect(await open(base + bad), bad).toBe(401);
    }
    expect(await open(base, ['a.b.c'])).toBe(401);
    const conn = await open(`${base}?token=${token}`);
    if (typeof conn === 'number') throw new Error(`WebSocket refused: ${conn}`);
    expect(JSON.parse(await conn.first).type).toBe('snapshot');
    const closed = new Promise<number>((r) => conn.ws.once('close', (code) => r(code)));
    conn.ws.send('{"type":');
    conn.ws.send(Buffer.from([0xff, 0x00, 0xfe]));
    conn.ws.send('y'.repeat(200 * 1024));
    expect(await closed).toBe(1009);
    const again = await open(`${base}?token=${token}`);
    if (typeof again === 'number') throw new Error(`WebSocket refused after abuse: ${again}`);
    expect(JSON.parse(await again.first).type).toBe('snapshot');
    again.ws.close();
  });

  it('still answers /api/v1/health and serves the fixtures afterwards', async () => {
    const h = await s.api('GET', '/api/v1/health');
    expect(h.status).toBe(200);
    expect(h.body.status).toBe('ok');
    expect((await s.api('GET', '/api/v1/printers', { token })).status).toBe(200);
    expect((await s.api('GET', '/api/v1/queue', { token })).status).toBe(200);
  });
});
