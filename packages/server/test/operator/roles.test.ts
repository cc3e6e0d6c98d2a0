/** Roles on the new queue and job routes: a viewer may read history and ask the fit question, never act. */
import { afterEach, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

let s: TestServer | null = null;
afterEach(async () => {
  await s?.destroy();
  s = null;
});

describe('operator routes and roles', () => {
  it('viewer: GET /jobs, /jobs/stats, CSV and POST /queue/fit allowed; cancel, retry and all-plates refused', async () => {
    s = await startTestServer();
    const { accessToken } = await setupAdmin(s);
    await s.api('POST', '/api/v1/users', {
      token: accessToken,
      body: { username: 'vera', password: 'viewer-password-1', role: 'viewer' },
    });
    const login = await s.api('POST', '/api/v1/auth/login', {
      body: { username: 'vera', password: 'viewer-password-1' },
    });
    const token = login.body.accessToken as string;
    const as = (method: string, url: string, body?: unknown) => s!.api(method, url, { token, body });
    expect((await as('GET', '/api/v1/jobs')).body).toEqual({ items: [], next: null });
    expect((await as('GET', '/api/v1/jobs/stats')).body).toMatchObject({ prints: 0, successRate: null, printers: [] });
    const csv = await as('GET', '/api/v1/jobs?format=csv');
    expect(csv.status).toBe(200);
    // The fit question is answered (404: no such file), not refused.
    expect((await as('POST', '/api/v1/queue/fit', { fileId: 'nope' })).status).toBe(404);
    for (const [method, url, body] of [
      ['POST', '/api/v1/jobs/x/cancel', {}],
      ['POST', '/api/v1/jobs/x/retry', {}],
      ['POST', '/api/v1/queue/x/cancel', {}],
      ['POST', '/api/v1/queue/x/retry', {}],
      ['POST', '/api/v1/queue/retry', {}],
      ['POST', '/api/v1/queue/all-plates', { fileId: 'nope' }],
    ] as const) {
      expect((await as(method, url, body)).status, `${method} ${url}`).toBe(403);
    }
    // An operator (here the admin) gets past the role check: 404 for the unknown job.
    expect((await s.api('POST', '/api/v1/jobs/x/cancel', { token: accessToken, body: {} })).status).toBe(404);
    expect((await s.api('GET', '/api/v1/jobs')).status).toBe(401);
  });
});
