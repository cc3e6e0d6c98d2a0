import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/util/clock.ts';
import { type TestDialect, type TestServer, startTestServer } from '../helpers/server.ts';

describe.each<TestDialect>(['sqlite', 'postgres'])('auth over real HTTP (%s)', (dialect) => {
  let s: TestServer;
  const clock = new FakeClock(Date.UTC(2026, 10, 22, 8, 0, 0));

  beforeAll(async () => {
    s = await startTestServer({ dialect, clock, config: { loginMaxFailures: 3, loginWindowSeconds: 60 } });
  });
  afterAll(async () => {
    await s?.destroy();
  });

  it('first-run setup happens once only', async () => {
    expect((await s.api('GET', '/api/v1/setup')).body).toEqual({ needed: true });
    const short = await s.api('POST', '/api/v1/setup', { body: { username: 'root', password: 'short' } });
    expect(short.status).toBe(400);
    expect(short.body.error.message).toMatch(/password/);
    const ok = await s.api('POST', '/api/v1/setup', { body: { username: 'root', password: 'long-enough-pw' } });
    expect(ok.status).toBe(201);
    expect(ok.body.role).toBe('admin');
    const again = await s.api('POST', '/api/v1/setup', { body: { username: 'evil', password: 'long-enough-pw' } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('setup_done');
    expect((await s.api('GET', '/api/v1/setup')).body).toEqual({ needed: false });
  });

  it('logs in with the right password and refuses a wrong one', async () => {
    const good = await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } });
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ expiresIn: 900 });
    expect(typeof good.body.accessToken).toBe('string');
    const me = await s.api('GET', '/api/v1/auth/me', { token: good.body.accessToken });
    expect(me.body).toMatchObject({ username: 'root', role: 'admin' });
    const bad = await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'wrong-password' } });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('invalid_credentials');
    const nobody = await s.api('POST', '/api/v1/auth/login', { body: { username: 'ghost', password: 'whatever-pw' } });
    expect(nobody.status).toBe(401);
  });

  it('rate-limits repeated failures with 429, then lets the user in after the window', async () => {
    // The earlier wrong password counts too: at most 3 failures in the window, then 429.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push((await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: `nope-${i}-xx` } })).status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    const blocked = await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('too_many_attempts');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    clock.advance(61_000);
    const after = await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } });
    expect(after.status).toBe(200);
  });

  it('refuses expired and tampered access tokens', async () => {
    const { accessToken } = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } })).body;
    expect((await s.api('GET', '/api/v1/printers', { token: accessToken })).status).toBe(200);
    const [h, p, sig] = accessToken.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...payload, role: 'admin', sub: 'someone-else' })).toString('base64url');
    const tampered = await s.api('GET', '/api/v1/printers', { token: `${h}.${forged}.${sig}` });
    expect(tampered.status).toBe(401);
    expect(tampered.body.error.code).toBe('invalid_token');
    const noneAlg = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect((await s.api('GET', '/api/v1/printers', { token: noneAlg })).status).toBe(401);
    clock.advance(901_000);
    const expired = await s.api('GET', '/api/v1/printers', { token: accessToken });
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('token_expired');
  });

  it('rotates refresh tokens and revokes the family when an old one is replayed', async () => {
    const first = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } })).body;
    const second = await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(second.status).toBe(200);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect((await s.api('GET', '/api/v1/printers', { token: second.body.accessToken })).status).toBe(200);
    // Replaying the rotated token is theft: it fails and kills the newer one too.
    const replay = await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('refresh_token_reused');
    const afterReplay = await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: second.body.refreshToken } });
    expect(afterReplay.status).toBe(401);
  });

  it('logout revokes the refresh token', async () => {
    const t = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } })).body;
    expect((await s.api('POST', '/api/v1/auth/logout', { token: t.accessToken, body: { refreshToken: t.refreshToken } })).status).toBe(204);
    expect((await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: t.refreshToken } })).status).toBe(401);
    expect((await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: 'rwcr_garbage' } })).status).toBe(401);
  });

  it('manages API keys: shown once, stored hashed, role-checked, deletable', async () => {
    const admin = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } })).body;
    const viewer = await s.api('POST', '/api/v1/api-keys', { token: admin.accessToken, body: { name: 'dash', role: 'viewer' } });
    expect(viewer.status).toBe(201);
    expect(viewer.body.key).toMatch(/^rwc_/);
    const operator = await s.api('POST', '/api/v1/api-keys', { token: admin.accessToken, body: { name: 'slicer', role: 'operator' } });
    const list = await s.api('GET', '/api/v1/api-keys', { token: admin.accessToken });
    expect(list.status).toBe(200);
    expect(list.body.map((k: any) => k.name)).toEqual(['dash', 'slicer']);
    expect(JSON.stringify(list.body)).not.toContain(viewer.body.key);
    expect(list.body[0].key).toBeUndefined();
    const rows = await s.infra.storage.db.selectFrom('api_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(viewer.body.key);

    expect((await s.api('GET', '/api/v1/printers', { apiKey: viewer.body.key })).status).toBe(200);
    const write = await s.api('POST', '/api/v1/printers', { apiKey: viewer.body.key, body: { name: 'x', driver: 'bambu', connection: {} } });
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('forbidden');
    // Operators run the farm but cannot mint keys or see users.
    expect((await s.api('POST', '/api/v1/api-keys', { apiKey: operator.body.key, body: { name: 'n', role: 'admin' } })).status).toBe(403);
    expect((await s.api('GET', '/api/v1/users', { apiKey: operator.body.key })).status).toBe(403);
    expect((await s.api('GET', '/api/v1/api-keys', { apiKey: viewer.body.key })).status).toBe(403);

    expect((await s.api('DELETE', `/api/v1/api-keys/${viewer.body.id}`, { token: admin.accessToken })).status).toBe(204);
    expect((await s.api('GET', '/api/v1/printers', { apiKey: viewer.body.key })).status).toBe(401);
    expect((await s.api('DELETE', `/api/v1/api-keys/${viewer.body.id}`, { token: admin.accessToken })).status).toBe(404);
    expect((await s.api('GET', '/api/v1/printers', { apiKey: 'rwc_not-a-key' })).status).toBe(401);
  });

  it('lets an admin create users with roles, and enforces them', async () => {
    const admin = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } })).body;
    const created = await s.api('POST', '/api/v1/users', { token: admin.accessToken, body: { username: 'vera', password: 'viewer-pass', role: 'viewer' } });
    expect(created.status).toBe(201);
    const dup = await s.api('POST', '/api/v1/users', { token: admin.accessToken, body: { username: 'vera', password: 'viewer-pass', role: 'viewer' } });
    expect(dup.status).toBe(409);
    const badRole = await s.api('POST', '/api/v1/users', { token: admin.accessToken, body: { username: 'x', password: 'xxxxxxxxxx', role: 'god' } });
    expect(badRole.status).toBe(400);
    expect(badRole.body.error.message).toMatch(/role/);
    const vera = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'vera', password: 'viewer-pass' } })).body;
    expect((await s.api('GET', '/api/v1/users', { token: vera.accessToken })).status).toBe(403);
    expect((await s.api('GET', '/api/v1/events', { token: vera.accessToken })).status).toBe(200);
    const users = await s.api('GET', '/api/v1/users', { token: admin.accessToken });
    expect(users.body.map((u: any) => u.username).sort()).toEqual(['root', 'vera']);
    expect(JSON.stringify(users.body)).not.toMatch(/scrypt|password/);
  });

  it('keeps users and keys across a restart', async () => {
    const admin = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'root', password: 'long-enough-pw' } })).body;
    const key = (await s.api('POST', '/api/v1/api-keys', { token: admin.accessToken, body: { name: 'keep', role: 'operator' } })).body.key;
    s = await s.restart();
    expect((await s.api('GET', '/api/v1/setup')).body).toEqual({ needed: false });
    expect((await s.api('GET', '/api/v1/printers', { apiKey: key })).status).toBe(200);
    // Access tokens survive too: the signing key lives in the data dir.
    expect((await s.api('GET', '/api/v1/printers', { token: admin.accessToken })).status).toBe(200);
    const login = await s.api('POST', '/api/v1/auth/login', { body: { username: 'vera', password: 'viewer-pass' } });
    expect(login.status).toBe(200);
  });
});
