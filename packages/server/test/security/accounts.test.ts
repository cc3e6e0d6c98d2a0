/**
 * Revocation is immediate, keys show and follow their maker, the last admin stays, setup never
 * reopens (issue 15). Over real HTTP and WebSocket, on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WS_CLOSE_REVOKED } from '../../src/http/ws-hub.ts';
import { type TestDialect, type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

function openWs(url: string): Promise<{ ws: WebSocket; closed: Promise<number>; messages: unknown[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: unknown[] = [];
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('message', (m) => messages.push(JSON.parse(String(m))));
    ws.once('open', () => resolve({ ws, closed, messages }));
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe.each<TestDialect>(['sqlite', 'postgres'])('accounts and revocation (%s)', (dialect) => {
  let s: TestServer;
  let root: { accessToken: string; refreshToken: string };
  const login = async (username: string, password: string) => {
    const res = await s.api('POST', '/api/v1/auth/login', { body: { username, password } });
    expect(res.status, `login ${username}`).toBe(200);
    return res.body as { accessToken: string; refreshToken: string };
  };
  const idOf = async (username: string) =>
    (await s.api('GET', '/api/v1/users', { token: root.accessToken })).body.find((u: any) => u.username === username)?.id as string;

  beforeAll(async () => {
    s = await startTestServer({ dialect });
    root = await setupAdmin(s, 'root', 'root-password');
  });
  afterAll(async () => s?.destroy());

  it("a deleted user's token, keys and sockets stop at once; keys name their maker", async () => {
    await s.api('POST', '/api/v1/users', { token: root.accessToken, body: { username: 'eve', password: 'eve-password', role: 'admin' } });
    const eve = await login('eve', 'eve-password');
    const key = await s.api('POST', '/api/v1/api-keys', { token: eve.accessToken, body: { name: 'eve-key', role: 'admin' } });
    expect(key.status).toBe(201);
    expect(key.body.createdBy).toMatchObject({ username: 'eve' });
    // A key made with a key still traces to eve.
    const second = await s.api('POST', '/api/v1/api-keys', { apiKey: key.body.key, body: { name: 'eve-key-2', role: 'operator' } });
    const list = (await s.api('GET', '/api/v1/api-keys', { token: root.accessToken })).body;
    expect(list.find((k: any) => k.id === second.body.id).createdBy).toMatchObject({ username: 'eve' });

    const wsUrl = `${s.url.replace('http', 'ws')}/api/v1/ws?token=`;
    const byToken = await openWs(wsUrl + eve.accessToken);
    const byKey = await openWs(wsUrl + key.body.key);
    const rootSocket = await openWs(wsUrl + root.accessToken);
    await waitFor(() => byToken.messages.length && byKey.messages.length, 'snapshots');
    expect((await s.api('GET', '/api/v1/users', { token: eve.accessToken })).status).toBe(200);

    expect((await s.api('DELETE', `/api/v1/users/${await idOf('eve')}`, { token: root.accessToken })).status).toBe(204);
    const afterToken = await s.api('GET', '/api/v1/users', { token: eve.accessToken });
    expect(afterToken.status).toBe(401);
    expect(afterToken.body.error.code).toBe('token_revoked');
    // Not even enough to make a new admin.
    expect((await s.api('POST', '/api/v1/users', { token: eve.accessToken, body: { username: 'eve2', password: 'eve2-password', role: 'admin' } })).status).toBe(401);
    expect((await s.api('GET', '/api/v1/printers', { apiKey: key.body.key })).status).toBe(401);
    expect((await s.api('GET', '/api/v1/printers', { apiKey: second.body.key })).status).toBe(401);
    expect((await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: eve.refreshToken } })).status).toBe(401);
    expect(await byToken.closed).toBe(WS_CLOSE_REVOKED);
    expect(await byKey.closed).toBe(WS_CLOSE_REVOKED);
    expect(rootSocket.ws.readyState).toBe(WebSocket.OPEN);
    rootSocket.ws.close();
    const remaining = (await s.api('GET', '/api/v1/api-keys', { token: root.accessToken })).body.map((k: any) => k.name);
    expect(remaining).not.toContain('eve-key');
    expect(remaining).not.toContain('eve-key-2');
  });

  it('a revoked key stops on the next request and its socket closes', async () => {
    const key = (await s.api('POST', '/api/v1/api-keys', { token: root.accessToken, body: { name: 'temp', role: 'viewer' } })).body;
    expect((await s.api('GET', '/api/v1/printers', { apiKey: key.key })).status).toBe(200);
    const sock = await openWs(`${s.url.replace('http', 'ws')}/api/v1/ws?token=${key.key}`);
    expect((await s.api('DELETE', `/api/v1/api-keys/${key.id}`, { token: root.accessToken })).status).toBe(204);
    expect((await s.api('GET', '/api/v1/printers', { apiKey: key.key })).status).toBe(401);
    expect(await sock.closed).toBe(WS_CLOSE_REVOKED);
  });

  it('a role change applies on the next request, also to the keys the user made', async () => {
    await s.api('POST', '/api/v1/users', { token: root.accessToken, body: { username: 'olga', password: 'olga-password', role: 'admin' } });
    const olga = await login('olga', 'olga-password');
    const key = (await s.api('POST', '/api/v1/api-keys', { token: olga.accessToken, body: { name: 'olga-admin', role: 'admin' } })).body;
    expect((await s.api('GET', '/api/v1/users', { apiKey: key.key })).status).toBe(200);
    const patched = await s.api('PATCH', `/api/v1/users/${await idOf('olga')}`, { token: root.accessToken, body: { role: 'viewer' } });
    expect(patched.status).toBe(200);
    expect(patched.body.role).toBe('viewer');
    expect((await s.api('GET', '/api/v1/users', { token: olga.accessToken })).status).toBe(403);
    expect((await s.api('GET', '/api/v1/users', { apiKey: key.key })).status).toBe(403);
    expect((await s.api('GET', '/api/v1/printers', { token: olga.accessToken })).status).toBe(200);
    const bad = await s.api('PATCH', `/api/v1/users/${await idOf('olga')}`, { token: root.accessToken, body: { role: 'god' } });
    expect(bad.status).toBe(400);
    expect((await s.api('PATCH', '/api/v1/users/nobody', { token: root.accessToken, body: { role: 'viewer' } })).status).toBe(404);
  });

  it('a password change ends the other sessions; an admin reset ends all of them', async () => {
    await s.api('POST', '/api/v1/users', { token: root.accessToken, body: { username: 'pat', password: 'pat-password', role: 'operator' } });
    const a = await login('pat', 'pat-password');
    const b = await login('pat', 'pat-password');
    const wrong = await s.api('POST', '/api/v1/auth/password', { token: a.accessToken, body: { currentPassword: 'nope-nope', newPassword: 'pat-password-2' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toContain('currentPassword');
    const short = await s.api('POST', '/api/v1/auth/password', { token: a.accessToken, body: { currentPassword: 'pat-password', newPassword: 'short' } });
    expect(short.status).toBe(400);
    const changed = await s.api('POST', '/api/v1/auth/password', { token: a.accessToken, body: { currentPassword: 'pat-password', newPassword: 'pat-password-2' } });
    expect(changed.status).toBe(200);
    expect((await s.api('GET', '/api/v1/printers', { token: b.accessToken })).status).toBe(401);
    expect((await s.api('GET', '/api/v1/printers', { token: a.accessToken })).status).toBe(401);
    expect((await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: b.refreshToken } })).status).toBe(401);
    expect((await s.api('GET', '/api/v1/printers', { token: changed.body.accessToken })).status).toBe(200);
    expect((await s.api('POST', '/api/v1/auth/login', { body: { username: 'pat', password: 'pat-password' } })).status).toBe(401);
    const fresh = await login('pat', 'pat-password-2');
    expect((await s.api('PATCH', `/api/v1/users/${await idOf('pat')}`, { token: root.accessToken, body: { password: 'reset-by-admin' } })).status).toBe(200);
    expect((await s.api('GET', '/api/v1/printers', { token: fresh.accessToken })).status).toBe(401);
    expect((await s.api('GET', '/api/v1/printers', { token: changed.body.accessToken })).status).toBe(401);
    await login('pat', 'reset-by-admin');
  });

  it('logout revokes only the caller’s own refresh token', async () => {
    const mine = await login('pat', 'reset-by-admin');
    const others = await login('root', 'root-password');
    expect((await s.api('POST', '/api/v1/auth/logout', { token: mine.accessToken, body: { refreshToken: others.refreshToken } })).status).toBe(204);
    expect((await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: others.refreshToken } })).status).toBe(200);
    expect((await s.api('POST', '/api/v1/auth/logout', { token: mine.accessToken, body: { refreshToken: mine.refreshToken } })).status).toBe(204);
    expect((await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: mine.refreshToken } })).status).toBe(401);
  });

  it('no credential removes or demotes the last admin, and setup never reopens', async () => {
    // olga is a viewer now: root is the only admin.
    const rootId = await idOf('root');
    const adminKey = (await s.api('POST', '/api/v1/api-keys', { token: root.accessToken, body: { name: 'root-key', role: 'admin' } })).body.key;
    const del = await s.api('DELETE', `/api/v1/users/${rootId}`, { apiKey: adminKey });
    expect(del.status).toBe(409);
    expect(del.body.error.code).toBe('last_admin');
    const demote = await s.api('PATCH', `/api/v1/users/${rootId}`, { apiKey: adminKey, body: { role: 'operator' } });
    expect(demote.status).toBe(409);
    expect((await s.api('GET', '/api/v1/setup')).body).toEqual({ needed: false });
    // Two admins demoting each other at once: exactly one wins, one admin is left.
    await s.api('PATCH', `/api/v1/users/${await idOf('olga')}`, { token: root.accessToken, body: { role: 'admin' } });
    const olgaId = await idOf('olga');
    const olga = await login('olga', 'olga-password');
    const results = await Promise.all([
      s.api('PATCH', `/api/v1/users/${rootId}`, { token: olga.accessToken, body: { role: 'viewer' } }),
      s.api('PATCH', `/api/v1/users/${olgaId}`, { token: root.accessToken, body: { role: 'viewer' } }),
    ]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    // The loser is refused as the last admin (409), or as no longer an admin (403) if it came second.
    expect(results.filter((r) => r.status === 409 || r.status === 403)).toHaveLength(1);
    const admins = await s.infra.storage.db.selectFrom('users').select('id').where('role', '=', 'admin').execute();
    expect(admins).toHaveLength(1);
  });

  it('setup stays closed even when no user is left', async () => {
    await s.infra.storage.db.deleteFrom('users').execute();
    expect((await s.api('GET', '/api/v1/setup')).body).toEqual({ needed: false });
    const again = await s.api('POST', '/api/v1/setup', { body: { username: 'mallory', password: 'mallory-password' } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('setup_done');
  });
});
