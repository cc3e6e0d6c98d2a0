/**
 * Web headers, resources and input shapes (issue 15): security headers everywhere, sizes refused
 * before reading, unauthenticated bodies never read, slow-loris timeouts, 431 and deep JSON in the
 * error shape, a full disk answers 507, data-dir permissions.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer, tempDir } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';
import { rawRequest } from './raw-http.ts';

/** Opens a socket, writes `head`, and resolves with what came back once the server closes it. */
function holdOpen(port: number, head: string): { closed: Promise<string>; socket: net.Socket } {
  const socket = net.connect({ host: '127.0.0.1', port });
  let data = '';
  socket.on('data', (c) => (data += c.toString('latin1')));
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(data)));
  socket.on('error', () => {});
  socket.write(head);
  return { closed, socket };
}

function expectSecurityHeaders(headers: Record<string, string> | Headers, where: string) {
  const get = (k: string) => (headers instanceof Headers ? headers.get(k) : headers[k]);
  expect(get('content-security-policy'), where).toContain("frame-ancestors 'none'");
  expect(get('content-security-policy'), where).toContain("script-src 'self'");
  expect(get('x-content-type-options'), where).toBe('nosniff');
  expect(get('referrer-policy'), where).toBe('no-referrer');
  expect(get('x-frame-options'), where).toBe('DENY');
}

describe('HTTP hardening', () => {
  let s: TestServer;
  let token: string;
  let webDist: string;
  let looseFile: string;

  beforeAll(async () => {
    webDist = tempDir('rwc-web-dist-');
    fs.mkdirSync(path.join(webDist, 'assets'));
    fs.writeFileSync(path.join(webDist, 'index.html'), '<!doctype html><script type="module" src="/assets/app.js"></script>');
    fs.writeFileSync(path.join(webDist, 'assets/app.js'), 'console.log(1)');
    const dataDir = tempDir();
    fs.chmodSync(dataDir, 0o755);
    looseFile = path.join(dataDir, 'left-by-an-older-version.json');
    fs.writeFileSync(looseFile, '{}', { mode: 0o644 });
    s = await startTestServer({
      dataDir,
      webDist,
      config: { headersTimeoutSeconds: 1, bodyTimeoutSeconds: 1, maxUploadBytes: 1024 * 1024 },
    });
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => {
    await s?.destroy();
    fs.rmSync(webDist, { recursive: true, force: true });
  });

  it('sends CSP (frame-ancestors none), nosniff and Referrer-Policy on the UI, the API, errors and the docs', async () => {
    for (const url of ['/', '/assets/app.js', '/printers/some-page', '/api/v1/health', '/api/v1/printers', '/api/docs/', '/api/v1/openapi.json']) {
      const res = await fetch(s.url + url, { redirect: 'follow' });
      expect(res.status, url).toBeLessThan(500);
      expectSecurityHeaders(res.headers, url);
    }
    const ui = await fetch(`${s.url}/printers/some-page`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('/assets/app.js');
    const docs = await fetch(`${s.url}/api/docs/`, { redirect: 'follow' });
    expect(await docs.text()).toMatch(/swagger/i);
  });

  it('answers oversized headers with 431 in the error shape', async () => {
    const res = await rawRequest(s.port, 'GET', '/api/v1/health', { 'x-big': 'a'.repeat(20_000) });
    expect(res.status).toBe(431);
    expect(JSON.parse(res.body).error.code).toBe('headers_too_large');
  });

  it('refuses a body by its Content-Length before reading it, and never reads an unauthenticated body', async () => {
    // Headers only: the promised gigabytes never come, yet the answer does, and the socket closes.
    const big = holdOpen(
      s.port,
      `POST /api/v1/printers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{"na`,
    );
    const bigAnswer = await big.closed;
    expect(bigAnswer).toMatch(/^HTTP\/1\.1 413/);
    expect(bigAnswer).toContain('"too_large"');
    const upload = holdOpen(
      s.port,
      `POST /api/v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 500000000\r\n\r\n--x\r\n`,
    );
    const uploadAnswer = await upload.closed;
    expect(uploadAnswer).toMatch(/^HTTP\/1\.1 401/);
    expect(uploadAnswer.toLowerCase()).toContain('connection: close');
    const tooBigUpload = holdOpen(
      s.port,
      `POST /api/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 50000000\r\n\r\n--x\r\n`,
    );
    expect(await tooBigUpload.closed).toMatch(/^HTTP\/1\.1 413/);
  });

  it('ends slow-loris connections: headers that never finish, a body that trickles', async () => {
    const headers = holdOpen(s.port, 'GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const headersAnswer = await headers.closed;
    expect(headersAnswer === '' || /^HTTP\/1\.1 408/.test(headersAnswer)).toBe(true);
    const body = holdOpen(s.port, 'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"username":');
    expect(await body.closed).toMatch(/^HTTP\/1\.1 408/);
  });

  it('answers a deeply nested body with 400, not 500', async () => {
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    // A simulated printer once stored such a connection and failed to answer it (500).
    const text = `{"name":"deep","driver":"simulated-marlin","enabled":false,"connection":{"x":${deep}}}`;
    const res = await rawRequest(s.port, 'POST', '/api/v1/printers', { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, text);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.code).toBe('too_deep');
    expect((await s.api('GET', '/api/v1/health')).status).toBe(200);
  });

  it('keeps the data dir 0700 and its files 0600, also files left loose before', () => {
    expect(fs.statSync(s.dataDir).mode & 0o777).toBe(0o700);
    const loose: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        const mode = fs.statSync(full).mode & 0o777;
        if (e.isDirectory()) {
          if (mode !== 0o700) loose.push(`${full} ${mode.toString(8)}`);
          walk(full);
        } else if (mode & 0o077) loose.push(`${full} ${mode.toString(8)}`);
      }
    };
    walk(s.dataDir);
    expect(loose).toEqual([]);
    expect(fs.existsSync(path.join(s.dataDir, 'rwc.sqlite'))).toBe(true);
    expect(fs.statSync(looseFile).mode & 0o777).toBe(0o600);
  });

  it('answers 507 with a clear message when the database is full, and recovers when there is room', async () => {
    const db = s.infra.storage.db;
    const pages = Number((await sql<{ page_count: number }>`PRAGMA page_count`.execute(db)).rows[0]!.page_count);
    await sql.raw(`PRAGMA max_page_count = ${pages + 2}`).execute(db);
    try {
      // Fill the users table's pages to the last byte, so the next user needs a page there is no room for.
      let failures = 0;
      for (let i = 0; i < 5000 && failures < 5; i++) {
        try {
          await db
            .insertInto('users')
            .values({ id: `filler-${i}`, username: `filler-${i}${'x'.repeat(failures ? 0 : 40)}`, password_hash: 'x', role: 'viewer', created_at: '' })
            .execute();
        } catch {
          failures++;
        }
      }
      expect(failures).toBeGreaterThan(0);
      const res = await s.api('POST', '/api/v1/users', { token, body: { username: 'full-disk', password: 'full-disk-pw', role: 'viewer' } });
      expect(res.status).toBe(507);
      expect(res.body.error.code).toBe('insufficient_storage');
      expect(res.body.error.message).toMatch(/full/);
    } finally {
      await sql.raw('PRAGMA max_page_count = 1073741823').execute(db);
    }
    await db.deleteFrom('users').where('id', 'like', 'filler-%').execute();
    await waitFor(
      async () => (await s.api('POST', '/api/v1/users', { token, body: { username: 'full-disk', password: 'full-disk-pw', role: 'viewer' } })).status === 201,
      'writes to work again',
    );
  });
});

describe('shutdown is not held by a request body', () => {
  it('cuts an upload still arriving when the server stops', { timeout: 60_000 }, async () => {
    // Nothing else would end this request for an hour: only the stop itself can.
    const s = await startTestServer({ config: { requestTimeoutSeconds: 3600 } });
    const token = (await setupAdmin(s)).accessToken;
    const upload = holdOpen(
      s.port,
      `POST /api/v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000000\r\n\r\n--x\r\nContent-Disposition: form-data; name="file"; filename="a.gcode"\r\n\r\nG28\n`,
    );
    // The upload is being received (the route is reading it) when the stop begins.
    await new Promise((r) => setTimeout(r, 500));
    // Without the cut, this waits for the body (never) and the test times out.
    await s.destroy();
    expect(await upload.closed).not.toMatch(/^HTTP\/1\.1 2/);
  });
});
