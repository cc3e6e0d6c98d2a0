/**
 * The 401 sweep (issue 15): every route of the OpenAPI document, under many spellings of its
 * request target, with no, forged, revoked and deleted-user credentials, over HTTP and over the
 * WebSocket upgrade, plus every Socket.IO namespace listed in SOCKET_IO_NAMESPACES. Nothing may
 * answer with success; spellings that have no single meaning are refused outright (400).
 */
import { SignJWT } from 'jose';
import type { Server as SocketIoServer } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateNamespace } from '../../src/http/socket-auth.ts';
import { type TestDialect, type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { rawRequest } from './raw-http.ts';

/**
 * Socket.IO namespaces on the server's HTTP port that must refuse every bad credential. A probe
 * namespace guarded by the shared middleware (http/socket-auth.ts) proves the sweep itself; add the
 * robot namespace with one line when it exists: `'/robot'`.
 */
const SOCKET_IO_NAMESPACES: string[] = ['/sweep-probe', '/robot'];

const PUBLIC = new Set(['get /api/v1/health', 'get /api/v1/setup', 'post /api/v1/setup', 'post /api/v1/auth/login', 'post /api/v1/auth/refresh']);

/**
 * Routes for outside detector services (seed 002): they take the single-use credential issued for
 * one AI task instead of a user's. Any user credential there is just a wrong task credential, so a
 * refusal may also be 403 (not this task's credential) or 400 (no task named); never a 2xx.
 * The task-credential rules themselves are tested in test/vision/remote-detectors.test.ts.
 */
const TASK_CREDENTIAL = new Set(['GET /api/v1/ai/tasks/some-id/image.jpg', 'POST /api/v1/ai/callback']);

/** Spellings of one path; `refused` ones must be a 400 whatever the credentials. */
function spellings(path: string, port: number): Array<{ name: string; target: string; refused: boolean }> {
  const segments = path.split('/');
  const last = segments[segments.length - 1]!;
  const encodedFirst = last ? `%${last.charCodeAt(0).toString(16)}${last.slice(1)}` : last;
  const withEncoded = [...segments.slice(0, -1), encodedFirst].join('/');
  return [
    { name: 'origin-form', target: path, refused: false },
    { name: 'absolute-form', target: `http://x${path}`, refused: true },
    { name: 'absolute-form with port', target: `http://127.0.0.1:${port}${path}`, refused: true },
    { name: 'absolute-form https', target: `https://x${path}`, refused: true },
    { name: 'leading double slash', target: `/${path}`, refused: false },
    { name: 'inner double slash', target: path.replace('/api/', '/api//'), refused: false },
    { name: 'trailing slash', target: `${path}/`, refused: false },
    { name: 'dot segment', target: path.replace('/api/', '/api/./'), refused: true },
    { name: 'dot-dot segment', target: path.replace('/api/', '/api/x/../'), refused: true },
    { name: 'encoded dot segment', target: path.replace('/api/', '/api/%2e/'), refused: true },
    { name: 'encoded dot-dot segment', target: path.replace('/api/', '/api/x/%2E%2e/'), refused: true },
    { name: 'percent-encoded letter', target: withEncoded, refused: false },
    { name: 'upper case', target: path.toUpperCase(), refused: false },
    { name: 'semicolon', target: `${path};x`, refused: false },
    { name: 'empty query', target: `${path}?`, refused: false },
    { name: 'fragment', target: `${path}#`, refused: true },
    { name: 'backslash', target: path.replace('/api/', '/api\\'), refused: true },
    { name: 'encoded slash', target: path.replace('/api/', '/api%2F'), refused: true },
    { name: 'encoded backslash', target: path.replace('/api/', '/api%5C'), refused: true },
    { name: 'malformed percent', target: `${path}%zz`, refused: true },
  ];
}

describe.each<TestDialect>(['sqlite', 'postgres'])('401 sweep over every route, spelling and bad credential (%s)', (dialect) => {
  let s: TestServer;
  let admin: { accessToken: string };
  const creds: Array<{ name: string; headers: Record<string, string>; token: string | null }> = [];
  let routes: Array<{ method: string; path: string }> = [];
  let io: SocketIoServer | null;

  beforeAll(async () => {
    s = await startTestServer({ dialect });
    admin = await setupAdmin(s);
    const t = admin.accessToken;
    const api = (method: string, url: string, body?: unknown, token = t) => s.api(method, url, { token, body });
    // A deleted admin: their token and the admin key they made.
    await api('POST', '/api/v1/users', { username: 'gone', password: 'gone-password', role: 'admin' });
    const gone = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'gone', password: 'gone-password' } })).body;
    const goneKey = (await api('POST', '/api/v1/api-keys', { name: 'gone-key', role: 'admin' }, gone.accessToken)).body.key;
    const goneId = (await api('GET', '/api/v1/users')).body.find((u: any) => u.username === 'gone').id;
    expect((await api('DELETE', `/api/v1/users/${goneId}`)).status).toBe(204);
    // A revoked key, and a session ended by a password change.
    const revoked = (await api('POST', '/api/v1/api-keys', { name: 'revoked', role: 'admin' })).body;
    expect((await api('DELETE', `/api/v1/api-keys/${revoked.id}`)).status).toBe(204);
    await api('POST', '/api/v1/users', { username: 'moved', password: 'old-password', role: 'admin' });
    const moved = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'moved', password: 'old-password' } })).body;
    const movedId = (await api('GET', '/api/v1/users')).body.find((u: any) => u.username === 'moved').id;
    expect((await api('PATCH', `/api/v1/users/${movedId}`, { password: 'new-password' })).status).toBe(200);
    // A token signed with another key, claiming to be the real admin.
    const adminId = (await api('GET', '/api/v1/auth/me')).body.id;
    const forged = await new SignJWT({ role: 'admin', username: 'admin', tv: 0 })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(adminId)
      .setIssuer('realworldclaw')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new Uint8Array(32).fill(7));
    const [, payload] = t.split('.');
    creds.push(
      { name: 'none', headers: {}, token: null },
      { name: 'forged JWT', headers: { authorization: `Bearer ${forged}` }, token: forged },
      { name: 'alg none', headers: { authorization: `Bearer e30.${payload}.` }, token: `e30.${payload}.` },
      { name: 'garbage key', headers: { 'x-api-key': 'rwc_not-a-key' }, token: 'rwc_not-a-key' },
      { name: 'revoked key', headers: { 'x-api-key': revoked.key }, token: revoked.key },
      { name: 'deleted user token', headers: { authorization: `Bearer ${gone.accessToken}` }, token: gone.accessToken },
      { name: "deleted user's key", headers: { 'x-api-key': goneKey }, token: goneKey },
      { name: 'token from before a password change', headers: { authorization: `Bearer ${moved.accessToken}` }, token: moved.accessToken },
    );
    const doc = (await s.api('GET', '/api/v1/openapi.json')).body;
    for (const [p, methods] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const method of Object.keys(methods)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        if (PUBLIC.has(`${method} ${p}`)) continue;
        routes.push({ method: method.toUpperCase(), path: p.replace(/\{[^}]+\}/g, 'some-id') });
      }
    }
    routes = routes.filter((r) => r.path.startsWith('/api/'));
    // The probe namespace for the Socket.IO part of the sweep (see SOCKET_IO_NAMESPACES).
    // The server's own Socket.IO server (the robot part attaches it); a second one on the same
    // HTTP server would fight it for /socket.io/.
    io = s.robot.io;
    authenticateNamespace(io!.of('/sweep-probe'), { auth: s.auth, bus: s.infra.bus, role: 'viewer' });
  });
  afterAll(async () => {
    await s?.destroy();
  });

  it('checks the routes that exist (the document is not empty)', () => {
    const names = routes.map((r) => `${r.method} ${r.path}`);
    expect(names).toEqual(
      expect.arrayContaining(['GET /api/v1/users', 'POST /api/v1/users', 'DELETE /api/v1/users/some-id', 'PATCH /api/v1/users/some-id', 'GET /api/v1/printers', 'GET /api/v1/ws', 'GET /api/version']),
    );
    expect(routes.length).toBeGreaterThan(30);
  });

  it('never lets a request through without valid credentials, whatever the spelling', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const route of routes) {
      for (const sp of spellings(route.path, s.port)) {
        // Every spelling without credentials and with a deleted user's token; every credential
        // with the spellings that route somewhere (the full product adds time, not coverage).
        const some = ['origin-form', 'absolute-form', 'leading double slash', 'percent-encoded letter', 'trailing slash'];
        for (const cred of creds.filter((c) => c.name === 'none' || c.name === 'deleted user token' || some.includes(sp.name))) {
          const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}';
          const headers = { ...cred.headers, ...(body ? { 'content-type': 'application/json' } : {}) };
          const res = await rawRequest(s.port, route.method, sp.target, headers, body);
          checked++;
          const expected = sp.refused ? [400] : TASK_CREDENTIAL.has(`${route.method} ${route.path}`) && cred.name !== 'none' ? [400, 401, 403] : [401];
          let json: any = null;
          try {
            json = JSON.parse(res.body);
          } catch {}
          if (!expected.includes(res.status) || typeof json?.error?.code !== 'string') {
            failures.push(`${route.method} ${sp.target} [${sp.name}, ${cred.name}] → ${res.status} ${res.body.slice(0, 120)}`);
          }
        }
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
    expect(checked).toBeGreaterThan(500);
  }, 600_000);

  it('refuses request targets that are not a path: asterisk-form and authority-form', async () => {
    const star = await rawRequest(s.port, 'OPTIONS', '*');
    expect(star.status).toBe(400);
    expect(JSON.parse(star.body).error.code).toBe('bad_request_target');
    const authority = await rawRequest(s.port, 'GET', `127.0.0.1:${s.port}`);
    expect(authority.status).toBe(400);
    // CONNECT never reaches a route: the server has no proxy, so the connection is refused.
    const connect = await rawRequest(s.port, 'CONNECT', `127.0.0.1:${s.port}`);
    expect(connect.status === 0 || connect.status >= 400).toBe(true);
    // Non-API paths are not public either, without the web UI.
    expect((await rawRequest(s.port, 'POST', '/anything', { 'content-type': 'application/json' }, '{}')).status).toBe(401);
    expect((await rawRequest(s.port, 'GET', '/index.html')).status).toBe(401);
  });

  it('lets the same spellings through with valid credentials where they mean the same route', async () => {
    const h = { authorization: `Bearer ${admin.accessToken}` };
    expect((await rawRequest(s.port, 'GET', '//api/v1/users', h)).status).toBe(200);
    expect((await rawRequest(s.port, 'GET', '/api/v1/%75sers', h)).status).toBe(200);
    expect((await rawRequest(s.port, 'GET', '/api//v1//users?', h)).status).toBe(200);
    expect((await rawRequest(s.port, 'GET', '/API/v1/users', h)).status).toBe(404);
    expect((await rawRequest(s.port, 'GET', '/api/v1/users;x', h)).status).toBe(404);
  });

  it('refuses the WebSocket upgrade for every spelling and bad credential', async () => {
    const failures: string[] = [];
    const upgrade = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    for (const sp of spellings('/api/v1/ws', s.port)) {
      for (const cred of creds) {
        const variants: Array<{ target: string; headers: Record<string, string> }> = [{ target: sp.target, headers: { ...upgrade, ...cred.headers } }];
        if (cred.token) {
          variants.push({ target: `${sp.target}${sp.target.includes('?') ? '&' : '?'}token=${encodeURIComponent(cred.token)}`, headers: upgrade });
          variants.push({ target: sp.target, headers: { ...upgrade, 'sec-websocket-protocol': cred.token } });
        }
        for (const v of variants) {
          const res = await rawRequest(s.port, 'GET', v.target, v.headers);
          const expected = sp.refused ? 400 : 401;
          if (res.status !== expected) failures.push(`${v.target} [${sp.name}, ${cred.name}] → ${res.status}`);
        }
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
    // The sweep can tell success: the same upgrade with a valid token is a 101.
    const ok = await rawRequest(s.port, 'GET', `/api/v1/ws?token=${admin.accessToken}`, upgrade);
    expect(ok.status).toBe(101);
  }, 300_000);

  it.each(SOCKET_IO_NAMESPACES)('refuses the Socket.IO handshake of namespace %s for every bad credential', async (nsp) => {
    const attempt = (token: string | null) =>
      new Promise<string>((resolve) => {
        const socket = ioClient(`${s.url}${nsp}`, { auth: token ? { token } : {}, transports: ['websocket'], reconnection: false, timeout: 10_000 });
        socket.on('connect', () => {
          socket.close();
          resolve('connected');
        });
        socket.on('connect_error', (err) => {
          socket.close();
          resolve(`refused:${err.message}`);
        });
      });
    for (const cred of creds) expect(await attempt(cred.token), cred.name).toMatch(/^refused/);
    expect(await attempt(admin.accessToken)).toBe('connected');
  });
});
