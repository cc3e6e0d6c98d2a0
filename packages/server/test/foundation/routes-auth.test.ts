import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

const publicRoutes = new Set([
  'get /api/v1/health',
  'get /api/v1/setup',
  'post /api/v1/setup',
  'post /api/v1/auth/login',
  'post /api/v1/auth/refresh',
]);

describe('every /api/v1 route needs credentials (enumerated from OpenAPI)', () => {
  let s: TestServer;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer();
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => s?.destroy());

  it('answers 401 with the error shape on every non-public route', async () => {
    const doc = (await s.api('GET', '/api/v1/openapi.json')).body;
    expect(doc.openapi).toMatch(/^3\./);
    const checked: string[] = [];
    for (const [p, methods] of Object.entries<Record<string, unknown>>(doc.paths)) {
      if (!p.startsWith('/api/v1/')) continue;
      for (const method of Object.keys(methods)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        if (publicRoutes.has(`${method} ${p}`)) continue;
        const url = p.replace(/\{[^}]+\}/g, 'some-id');
        const res = await s.api(method.toUpperCase(), url, method === 'get' || method === 'delete' ? {} : { body: {} });
        expect(res.status, `${method.toUpperCase()} ${p}`).toBe(401);
        expect(res.body.error.code, `${method.toUpperCase()} ${p}`).toBe('unauthorized');
        checked.push(`${method} ${p}`);
      }
    }
    // The document must list the routes that exist, or this test would check nothing.
    expect(checked).toEqual(expect.arrayContaining(['get /api/v1/printers', 'post /api/v1/api-keys', 'get /api/v1/events', 'get /api/v1/users']));
  });

  it('lets the public routes through without credentials', async () => {
    expect((await s.api('GET', '/api/v1/health')).body).toMatchObject({ status: 'ok' });
    expect((await s.api('GET', '/api/v1/setup')).status).toBe(200);
    expect((await s.api('GET', '/api/v1/openapi.json')).status).toBe(200);
    const docs = await fetch(`${s.url}/api/docs`, { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });

  it('gives the error shape for unknown routes and schema violations', async () => {
    // Unknown routes are denied by default: an anonymous caller learns nothing about the API.
    const anonymous = await s.api('GET', '/api/v1/does-not-exist');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe('unauthorized');
    const missing = await s.api('GET', '/api/v1/does-not-exist', { token });
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: 'not_found', message: expect.stringContaining('/api/v1/does-not-exist') } });
    const badBody = await s.api('POST', '/api/v1/auth/login', { body: { username: 'x' } });
    expect(badBody.status).toBe(400);
    expect(badBody.body.error.code).toBe('validation_error');
    expect(badBody.body.error.message).toContain('password');
    const wrongType = await s.api('POST', '/api/v1/auth/login', { body: { username: 'x', password: 42 } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.message).toContain('password');
    const notJson = await fetch(`${s.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{oops' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as any).error.code).toBeTypeOf('string');
  });
});
