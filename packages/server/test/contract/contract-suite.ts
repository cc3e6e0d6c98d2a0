/**
 * Black-box check of docs/api.md over real HTTP and a real WebSocket: every documented path,
 * method, body and answer shape, as an outside tester would run it. Printers are the in-process
 * simulators (simulated-*), reached over their real protocols.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';
import { type TestDialect, type TestServer, startTestServer } from '../helpers/server.ts';
import { raiseAlert } from '../../src/alerts/raise.ts';

const FIXTURE = path.join(BAMBU_FIXTURES, 'fdm-monster.bambu.gcode.3mf');
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const PASSWORD = 'correct-horse-battery';

async function until<T>(check: () => Promise<T> | T, what: string, ms = 15_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function connectWs(url: string, protocols?: string[]): Promise<{ ws: WebSocket; messages: any[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const messages: any[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(String(m))));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function expectError(res: { status: number; body: any }, status: number, mentions?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(typeof res.body?.error?.code).toBe('string');
  expect(res.body.error.code).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
  if (mentions) expect(res.body.error.message).toContain(mentions);
}

/** Every key in a JSON value is camelCase (no snake_case, no kebab-case). */
function camelKeys(v: unknown, where = '$'): string[] {
  const bad: string[] = [];
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) bad.push(...camelKeys(x, `${where}[${i}]`));
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (!/^[a-z][A-Za-z0-9]*$/.test(k)) bad.push(`${where}.${k}`);
      bad.push(...camelKeys(x, `${where}.${k}`));
    }
  }
  return bad;
}

function upload(s: TestServer, token: string, name: string, bytes: Buffer | string, field = 'file') {
  const form = new FormData();
  form.append(field, new Blob([bytes]), name);
  return s.api('POST', '/api/v1/files', { token, body: form });
}

/** The whole contract, against a fresh server on the given database. */
export function defineContractSuite(dialect: TestDialect): void {
  describe(`docs/api.md contract over HTTP (${dialect})`, () => {
    let s: TestServer;
    let admin: { accessToken: string; refreshToken: string; expiresIn: number };
    let tok: string;
    let rt: { ws: WebSocket; messages: any[] };
    let fileId: string;
    let apiKeyShown = '';
    const api = (method: string, url: string, body?: unknown) => s.api(method, url, { token: tok, body });

    beforeAll(async () => {
      s = await startTestServer({ dialect, config: { maxUploadBytes: 400 * 1024 } });
    });
    afterAll(async () => {
      rt?.ws.close();
      await s?.destroy();
    });

    describe('health, setup, auth', () => {
      it('health answers without credentials', async () => {
        const r = await s.api('GET', '/api/v1/health');
        expect(r.status).toBe(200);
        expect(r.body).toEqual({ status: 'ok', version: expect.any(String) });
        expect(r.body.version.length).toBeGreaterThan(0);
      });

      it('setup: needed, 400 short password naming the field, 201, then 409', async () => {
        expect((await s.api('GET', '/api/v1/setup')).body).toEqual({ needed: true });
        expectError(
          await s.api('POST', '/api/v1/setup', { body: { username: 'admin', password: 'short' } }),
          400,
          'password',
        );
        expectError(await s.api('POST', '/api/v1/setup', { body: { username: 'admin' } }), 400, 'password');
        const created = await s.api('POST', '/api/v1/setup', { body: { username: 'admin', password: PASSWORD } });
        expect(created.status).toBe(201);
        expect((await s.api('GET', '/api/v1/setup')).body).toEqual({ needed: false });
        expectError(await s.api('POST', '/api/v1/setup', { body: { username: 'other', password: PASSWORD } }), 409);
      });

      it('login answers accessToken, refreshToken, expiresIn (seconds); 401 on bad credentials', async () => {
        const r = await s.api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: PASSWORD } });
        expect(r.status).toBe(200);
        expect(Object.keys(r.body).sort()).toEqual(['accessToken', 'expiresIn', 'refreshToken']);
        expect(Number.isInteger(r.body.expiresIn)).toBe(true);
        expect(r.body.expiresIn).toBeGreaterThan(0);
        admin = r.body;
        tok = admin.accessToken;
        expectError(
          await s.api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'wrong-password' } }),
          401,
        );
        expectError(
          await s.api('POST', '/api/v1/auth/login', { body: { username: 'nobody', password: PASSWORD } }),
          401,
        );
      });

      it('refresh gives new tokens that work; a bad refresh token is 401', async () => {
        const r = await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: admin.refreshToken } });
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({
          accessToken: expect.any(String),
          refreshToken: expect.any(String),
          expiresIn: expect.any(Number),
        });
        tok = r.body.accessToken;
        expect((await s.api('GET', '/api/v1/printers', { token: tok })).status).toBe(200);
        expectError(await s.api('POST', '/api/v1/auth/refresh', { body: { refreshToken: 'not-a-token' } }), 401);
        expectError(await s.api('POST', '/api/v1/auth/refresh', { body: {} }), 400, 'refreshToken');
      });

      it('protected routes: 401 without or with forged credentials, error shape', async () => {
        for (const [m, u] of [
          ['GET', '/api/v1/printers'],
          ['GET', '/api/v1/files'],
          ['GET', '/api/v1/queue'],
          ['GET', '/api/v1/users'],
          ['POST', '/api/v1/queue/start'],
        ] as const) {
          expectError(await s.api(m, u), 401);
          expectError(await s.api(m, u, { token: 'a.b.c' }), 401);
          expectError(await s.api(m, u, { apiKey: 'rwc_forged' }), 401);
        }
      });

      it('OpenAPI document is public', async () => {
        const r = await s.api('GET', '/api/v1/openapi.json');
        expect(r.status).toBe(200);
        expect(r.body.openapi).toMatch(/^3\./);
        expect(Object.keys(r.body.paths)).toEqual(
          expect.arrayContaining(['/api/v1/printers', '/api/v1/queue', '/api/v1/files']),
        );
        // Every documented route is in the generated document, with its documented answers.
        const documented: Array<[string, string, string[]]> = [
          ['get', '/api/v1/health', ['200']],
          ['get', '/api/v1/setup', ['200']],
          ['post', '/api/v1/setup', ['201', '400', '409']],
          ['post', '/api/v1/auth/login', ['200', '401', '429']],
          ['post', '/api/v1/auth/refresh', ['200']],
          ['get', '/api/v1/users', ['200', '403']],
          ['post', '/api/v1/users', ['201', '400', '403']],
          ['post', '/api/v1/api-keys', ['201', '403']],
          ['get', '/api/v1/api-keys', ['200', '403']],
          ['delete', '/api/v1/api-keys/{id}', ['204', '404']],
          ['get', '/api/v1/printers', ['200']],
          ['post', '/api/v1/printers', ['201', '400']],
          ['get', '/api/v1/printers/{id}', ['200', '404']],
          ['patch', '/api/v1/printers/{id}', ['200', '400', '404']],
          ['delete', '/api/v1/printers/{id}', ['204', '404', '409']],
          ['post', '/api/v1/printers/{id}/control', ['202', '404', '409']],
          ['post', '/api/v1/files', ['201', '400', '413']],
          ['get', '/api/v1/files', ['200']],
          ['get', '/api/v1/files/{id}', ['200', '404']],
          ['get', '/api/v1/files/{id}/plates/{index}/thumbnail', ['200', '404']],
          ['delete', '/api/v1/files/{id}', ['204', '404', '409']],
          ['get', '/api/v1/queue', ['200']],
          ['post', '/api/v1/queue', ['201', '400', '404']],
          ['patch', '/api/v1/queue/{id}', ['200', '404', '409']],
          ['post', '/api/v1/queue/reorder', ['200']],
          ['delete', '/api/v1/queue/{id}', ['204', '404', '409']],
          ['delete', '/api/v1/queue', ['204']],
          ['post', '/api/v1/queue/start', ['200']],
          ['post', '/api/v1/queue/pause', ['200']],
          ['get', '/api/v1/ws', []],
        ];
        for (const [method, p, codes] of documented) {
          const op = r.body.paths[p]?.[method];
          expect(op, `${method} ${p}`).toBeDefined();
          for (const c of codes) expect(op.responses?.[c], `${method} ${p} ${c}`).toBeDefined();
        }
        // The upload documents its multipart field.
        expect(r.body.paths['/api/v1/files'].post.requestBody.content['multipart/form-data'].schema.required).toEqual(['file']);
        // A plain GET of the WebSocket path says what to do, in the error shape.
        expectError(await s.api('GET', '/api/v1/ws', { token: tok }), 426);
      });
    });

    describe('users and api keys (admin only)', () => {
      let viewerTok: string;
      let operatorTok: string;

      it('admin creates users; 400 naming the field for a bad role or short password', async () => {
        const v = await api('POST', '/api/v1/users', { username: 'vera', password: PASSWORD, role: 'viewer' });
        expect(v.status).toBe(201);
        expect(v.body).toMatchObject({ id: expect.any(String), username: 'vera', role: 'viewer' });
        expect(v.body).not.toHaveProperty('password');
        expect(v.body).not.toHaveProperty('passwordHash');
        expect(
          (await api('POST', '/api/v1/users', { username: 'otto', password: PASSWORD, role: 'operator' })).status,
        ).toBe(201);
        expectError(
          await api('POST', '/api/v1/users', { username: 'x', password: PASSWORD, role: 'king' }),
          400,
          'role',
        );
        expectError(
          await api('POST', '/api/v1/users', { username: 'y', password: 'short', role: 'viewer' }),
          400,
          'password',
        );
        const list = await api('GET', '/api/v1/users');
        expect(list.status).toBe(200);
        expect(list.body.map((u: any) => u.username).sort()).toEqual(['admin', 'otto', 'vera']);
        for (const u of list.body) {
          expect(JSON.stringify(u)).not.toMatch(/hash|password/i);
          if (u.createdAt) expect(u.createdAt).toMatch(ISO_UTC);
        }
        const login = async (username: string) =>
          (await s.api('POST', '/api/v1/auth/login', { body: { username, password: PASSWORD } })).body
            .accessToken as string;
        viewerTok = await login('vera');
        operatorTok = await login('otto');
      });

      it('non-admins get 403 on users and api-keys; viewers 403 on writes', async () => {
        for (const t of [viewerTok, operatorTok]) {
          expectError(await s.api('GET', '/api/v1/users', { token: t }), 403);
          expectError(
            await s.api('POST', '/api/v1/users', {
              token: t,
              body: { username: 'z', password: PASSWORD, role: 'admin' },
            }),
            403,
          );
          expectError(await s.api('GET', '/api/v1/api-keys', { token: t }), 403);
          expectError(await s.api('POST', '/api/v1/api-keys', { token: t, body: { name: 'k', role: 'viewer' } }), 403);
        }
        expect((await s.api('GET', '/api/v1/printers', { token: viewerTok })).status).toBe(200);
        expect((await s.api('GET', '/api/v1/queue', { token: viewerTok })).status).toBe(200);
        expectError(await s.api('POST', '/api/v1/queue/start', { token: viewerTok }), 403);
        expectError(
          await s.api('POST', '/api/v1/printers', {
            token: viewerTok,
            body: { name: 'p', driver: 'simulated-marlin', connection: {} },
          }),
          403,
        );
        expect((await s.api('GET', '/api/v1/queue', { token: operatorTok })).status).toBe(200);
      });

      it('api keys: 201 {id,name,role,key}; the key works as X-Api-Key; the list never returns it; DELETE revokes', async () => {
        const r = await api('POST', '/api/v1/api-keys', { name: 'ci', role: 'operator' });
        expect(r.status).toBe(201);
        expect(r.body).toMatchObject({ id: expect.any(String), name: 'ci', role: 'operator', key: expect.any(String) });
        const key = r.body.key as string;
        apiKeyShown = key;
        expect(key.length).toBeGreaterThan(16);
        expect((await s.api('GET', '/api/v1/queue', { apiKey: key })).status).toBe(200);
        expectError(await s.api('GET', '/api/v1/users', { apiKey: key }), 403);
        const list = await api('GET', '/api/v1/api-keys');
        expect(list.status).toBe(200);
        const listed = list.body.find((k: any) => k.id === r.body.id);
        expect(listed).toMatchObject({ id: r.body.id, name: 'ci', role: 'operator' });
        expect(listed).not.toHaveProperty('key');
        expect(JSON.stringify(list.body)).not.toContain(key);
        expectError(await api('POST', '/api/v1/api-keys', { name: 'bad', role: 'root' }), 400, 'role');
        expectError(await api('POST', '/api/v1/api-keys', { role: 'viewer' }), 400, 'name');
        const del = await api('DELETE', `/api/v1/api-keys/${r.body.id}`);
        expect(del.status).toBe(204);
        expectError(await s.api('GET', '/api/v1/queue', { apiKey: key }), 401);
        expectError(await api('DELETE', `/api/v1/api-keys/${r.body.id}`), 404);
      });
    });

    describe('realtime', () => {
      it('refuses a WebSocket without a token; accepts ?token= and Sec-WebSocket-Protocol; snapshot first', async () => {
        const base = `${s.url.replace('http', 'ws')}/api/v1/ws`;
        await expect(connectWs(base)).rejects.toThrow('HTTP 401');
        const viaProto = await connectWs(base, ['rwc', tok]);
        await until(() => viaProto.messages.length >= 1, 'snapshot via subprotocol');
        expect(viaProto.messages[0].type).toBe('snapshot');
        viaProto.ws.close();
        rt = await connectWs(`${base}?token=${encodeURIComponent(tok)}`);
        await until(() => rt.messages.length >= 1, 'snapshot');
        expect(rt.messages[0]).toMatchObject({ type: 'snapshot', data: expect.any(Object) });
        expect(rt.messages[0].at).toMatch(ISO_UTC);
      });
    });

    describe('printers', () => {
      let printerId: string;

      it('POST with each driver kind answers 201 without secrets; 400 naming the field', async () => {
        const bambu = await api('POST', '/api/v1/printers', {
          name: 'real-bambu',
          driver: 'bambu',
          model: 'A1',
          enabled: false,
          connection: {
            host: '127.0.0.1',
            serial: '01P00A000000001',
            accessCode: 'secret1234',
            mqttPort: 8883,
            ftpsPort: 990,
            cameraPort: 6000,
          },
        });
        expect(bambu.status, JSON.stringify(bambu.body)).toBe(201);
        expect(JSON.stringify(bambu.body)).not.toContain('secret1234');
        const moon = await api('POST', '/api/v1/printers', {
          name: 'real-moon',
          driver: 'moonraker',
          enabled: false,
          connection: { url: 'http://127.0.0.1:1', apiKey: 'moonsecret99' },
        });
        expect(moon.status, JSON.stringify(moon.body)).toBe(201);
        expect(JSON.stringify(moon.body)).not.toContain('moonsecret99');
        const marlinTcp = await api('POST', '/api/v1/printers', {
          name: 'real-marlin-tcp',
          driver: 'marlin',
          enabled: false,
          connection: { url: 'tcp://127.0.0.1:1' },
        });
        expect(marlinTcp.status, JSON.stringify(marlinTcp.body)).toBe(201);
        const marlinSerial = await api('POST', '/api/v1/printers', {
          name: 'real-marlin-serial',
          driver: 'marlin',
          enabled: false,
          connection: { path: '/dev/ttyNOPE0', baudRate: 115200 },
        });
        expect(marlinSerial.status, JSON.stringify(marlinSerial.body)).toBe(201);
        for (const driver of ['simulated-marlin', 'simulated-moonraker']) {
          const r = await api('POST', '/api/v1/printers', { name: driver, driver, connection: { timeScale: 30 } });
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          expect(r.body.driver).toBe(driver);
        }
        const sim = await api('POST', '/api/v1/printers', {
          name: 'A1-mini-sim',
          driver: 'simulated-bambu',
          model: 'A1 mini',
          connection: { model: 'A1 mini', timeScale: 20, printSeconds: 36000 },
          settings: { swapCooldownSeconds: 0 },
        });
        expect(sim.status, JSON.stringify(sim.body)).toBe(201);
        printerId = sim.body.id;
        for (const r of [bambu, moon, marlinTcp, marlinSerial, sim]) {
          expect(r.body).toMatchObject({
            id: expect.any(String),
            name: expect.any(String),
            driver: expect.any(String),
            enabled: expect.any(Boolean),
          });
          expect(r.body).toHaveProperty('model');
          expect(camelKeys(r.body)).toEqual([]);
          const st = r.body.state;
          for (const k of [
            'status',
            'stale',
            'progress',
            'remainingSeconds',
            'layer',
            'temperatures',
            'job',
            'error',
            'cooldownUntil',
            'updatedAt',
          ]) {
            expect(st, `state.${k}`).toHaveProperty(k);
          }
          expect([
            'offline',
            'connecting',
            'unknown',
            'idle',
            'preparing',
            'printing',
            'paused',
            'finished',
            'error',
          ]).toContain(st.status);
          expect(typeof st.stale).toBe('boolean');
          if (st.updatedAt !== null) expect(st.updatedAt).toMatch(ISO_UTC);
        }
        expectError(await api('POST', '/api/v1/printers', { driver: 'bambu', connection: {} }), 400, 'name');
        expectError(
          await api('POST', '/api/v1/printers', {
            name: 'x',
            driver: 'bambu',
            connection: { host: '127.0.0.1', accessCode: 'a' },
          }),
          400,
          'serial',
        );
        expectError(
          await api('POST', '/api/v1/printers', { name: 'x', driver: 'no-such-driver', connection: {} }),
          400,
          'driver',
        );
        expectError(
          await api('POST', '/api/v1/printers', { name: 'x', driver: 'moonraker', connection: {} }),
          400,
          'url',
        );
        expectError(await api('POST', '/api/v1/printers', { name: 'x', driver: 'marlin', connection: {} }), 400);
      });

      it('GET list and one; 404 for an unknown id; the state reaches idle with temperatures', async () => {
        const list = await api('GET', '/api/v1/printers');
        expect(list.status).toBe(200);
        expect(list.body.length).toBe(7);
        const p = await until(async () => {
          const r = await api('GET', `/api/v1/printers/${printerId}`);
          return r.body.state.status === 'idle' ? r : null;
        }, 'simulated printer idle');
        expect(p.status).toBe(200);
        expect(p.body.state.stale).toBe(false);
        expect(p.body.state.temperatures.nozzle).toMatchObject({ actual: expect.any(Number) });
        expect(p.body.state.temperatures.bed).toMatchObject({ actual: expect.any(Number) });
        expect(p.body.state.updatedAt).toMatch(ISO_UTC);
        expect(p.body.state.error).toBeNull();
        expectError(await api('GET', '/api/v1/printers/nope'), 404);
      });

      it('PATCH name, enabled, connection, settings answers 200 with the printer; 400/404', async () => {
        const moon = (await api('GET', '/api/v1/printers')).body.find((p: any) => p.name === 'real-moon');
        const r = await api('PATCH', `/api/v1/printers/${moon.id}`, {
          name: 'renamed-moon',
          enabled: false,
          connection: { url: 'http://127.0.0.1:2', apiKey: 'newsecret77' },
          settings: { swapCooldownSeconds: 120 },
        });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body).toMatchObject({ id: moon.id, name: 'renamed-moon', enabled: false });
        expect(r.body.settings.swapCooldownSeconds).toBe(120);
        expect(JSON.stringify(r.body)).not.toContain('newsecret77');
        expectError(
          await api('PATCH', `/api/v1/printers/${moon.id}`, { settings: { swapCooldownSeconds: -1 } }),
          400,
          'swapCooldownSeconds',
        );
        expectError(await api('PATCH', `/api/v1/printers/${moon.id}`, { enabled: 'yes' }), 400, 'enabled');
        expectError(
          await api('PATCH', `/api/v1/printers/${moon.id}`, { settings: { swapCoolDown: 5 } }),
          400,
          'settings.swapCoolDown',
        );
        expectError(
          await api('PATCH', `/api/v1/printers/${moon.id}`, { connection: { url: 5 } }),
          400,
          'connection.url',
        );
        expectError(await api('PATCH', '/api/v1/printers/nope', { name: 'x' }), 404);
      });

      it('control: 409 when the state does not allow it, 400 for an unknown command, 404 unknown printer', async () => {
        expectError(await api('POST', `/api/v1/printers/${printerId}/control`, { command: 'resume' }), 409);
        expectError(await api('POST', `/api/v1/printers/${printerId}/control`, { command: 'pause' }), 409);
        expectError(await api('POST', `/api/v1/printers/${printerId}/control`, { command: 'explode' }), 400, 'command');
        expectError(await api('POST', '/api/v1/printers/nope/control', { command: 'pause' }), 404);
      });

      it('DELETE answers 204, then 404', async () => {
        const tcp = (await api('GET', '/api/v1/printers')).body.find((p: any) => p.name === 'real-marlin-tcp');
        expect((await api('DELETE', `/api/v1/printers/${tcp.id}`)).status).toBe(204);
        expectError(await api('GET', `/api/v1/printers/${tcp.id}`), 404);
        expectError(await api('DELETE', `/api/v1/printers/${tcp.id}`), 404);
      });

      describe('files', () => {
        it('POST multipart answers 201 with the documented record', async () => {
          const r = await upload(s, tok, 'benchy.gcode.3mf', fs.readFileSync(FIXTURE));
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          const f = r.body;
          fileId = f.id;
          expect(f).toMatchObject({
            id: expect.any(String),
            name: 'benchy.gcode.3mf',
            size: fs.statSync(FIXTURE).size,
            sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
            printerModel: 'A1 mini',
            nozzleDiameter: 0.4,
          });
          expect(f.uploadedAt).toMatch(ISO_UTC);
          expect(f.plates.length).toBeGreaterThanOrEqual(1);
          const p = f.plates[0];
          expect(p).toMatchObject({
            index: 1,
            gcodePath: 'Metadata/plate_1.gcode',
            gcodeMd5: expect.stringMatching(/^[0-9A-Fa-f]{32}$/),
            estimatedSeconds: 1095,
            weightGrams: expect.any(Number),
            thumbnailUrl: `/api/v1/files/${f.id}/plates/1/thumbnail`,
          });
          expect(p.filaments[0]).toMatchObject({
            type: expect.any(String),
            color: expect.stringMatching(/^#[0-9A-Fa-f]{6}/),
            grams: expect.any(Number),
          });
          expect(camelKeys(f)).toEqual([]);
        });

        it('400 for files that are not sliced prints; 413 over the size limit', async () => {
          expectError(await upload(s, tok, 'notes.gcode.3mf', 'this is not a zip'), 400);
          expectError(await upload(s, tok, 'photo.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0])), 400);
          expectError(await upload(s, tok, 'empty.gcode', ''), 400);
          expectError(await upload(s, tok, 'x.gcode', 'G28\n', 'other'), 400, 'file');
          expectError(await api('POST', '/api/v1/files', { name: 'x' }), 400, 'file');
          expectError(await upload(s, tok, 'huge.gcode', `;FLAVOR:Marlin\n${'G1 X1 Y1\n'.repeat(60_000)}`), 413);
          // The server still answers after a refused upload.
          expect((await api('GET', '/api/v1/files')).status).toBe(200);
        });

        it('GET list and one; 404 unknown; thumbnail is image/png', async () => {
          const list = await api('GET', '/api/v1/files');
          expect(list.status).toBe(200);
          expect(list.body.map((f: any) => f.id)).toContain(fileId);
          const one = await api('GET', `/api/v1/files/${fileId}`);
          expect(one.status).toBe(200);
          expect(one.body.id).toBe(fileId);
          expectError(await api('GET', '/api/v1/files/nope'), 404);
          const badSort = await api('GET', '/api/v1/files?sort=colour');
          expectError(badSort, 400, 'sort');
          expect(badSort.body.error.message).toContain('uploadedAt');
          const res = await fetch(`${s.url}/api/v1/files/${fileId}/plates/1/thumbnail`, {
            headers: { authorization: `Bearer ${tok}` },
          });
          expect(res.status).toBe(200);
          expect(res.headers.get('content-type')).toMatch(/^image\/png/);
          const png = Buffer.from(await res.arrayBuffer());
          expect(png.subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
          expectError(await api('GET', `/api/v1/files/${fileId}/plates/99/thumbnail`), 404);
          expectError(await api('GET', '/api/v1/files/nope/plates/1/thumbnail'), 404);
        });

        it('DELETE 204 for an unused file, then 404', async () => {
          const gcode = `;FLAVOR:Marlin\n;TIME:60\n;Filament used: 0.1m\nG28\nG1 X10 Y10\n`;
          const up = await upload(s, tok, 'small.gcode', gcode);
          expect(up.status, JSON.stringify(up.body)).toBe(201);
          expect((await api('DELETE', `/api/v1/files/${up.body.id}`)).status).toBe(204);
          expectError(await api('GET', `/api/v1/files/${up.body.id}`), 404);
          expectError(await api('DELETE', `/api/v1/files/${up.body.id}`), 404);
        });
      });

      describe('queue', () => {
        let itemId: string;

        it('GET answers {running, items, remainingSeconds, finishAt}', async () => {
          const q = await api('GET', '/api/v1/queue');
          expect(q.status).toBe(200);
          expect(q.body).toMatchObject({ running: expect.any(Boolean), items: [], remainingSeconds: 0 });
          expect(q.body.finishAt).toBeNull();
          // Hold the queue so the items below stay waiting until the test starts it.
          expect((await api('POST', '/api/v1/queue/pause')).body).toEqual({ running: false });
        });

        it('POST answers 201 with every documented field; 400 naming the field; 404 unknown file', async () => {
          const r = await api('POST', '/api/v1/queue', {
            fileId,
            plate: 1,
            copies: 2,
            overrides: { bedLeveling: false, timelapse: false },
            printerIds: [printerId],
          });
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          const it = r.body;
          itemId = it.id;
          for (const k of [
            'id',
            'fileId',
            'fileName',
            'plate',
            'copies',
            'copiesDone',
            'status',
            'position',
            'overrides',
            'printerIds',
            'estimatedSeconds',
            'thumbnailUrl',
            'currentPrinterId',
            'lastError',
          ]) {
            expect(it, k).toHaveProperty(k);
          }
          expect(it).toMatchObject({
            fileId,
            fileName: 'benchy.gcode.3mf',
            plate: 1,
            copies: 2,
            copiesDone: 0,
            status: 'waiting',
            overrides: { bedLeveling: false, flowCalibration: true, timelapse: false },
            printerIds: [printerId],
            estimatedSeconds: 1095,
            currentPrinterId: null,
            lastError: null,
          });
          expect(typeof it.position).toBe('number');
          expect(camelKeys(it)).toEqual([]);
          const q = await api('GET', '/api/v1/queue');
          expect(q.body.items.map((i: any) => i.id)).toEqual([itemId]);
          expect(q.body.remainingSeconds).toBe(2 * 1095);
          // A waiting item holds its file.
          expectError(await api('DELETE', `/api/v1/files/${fileId}`), 409);
          expectError(await api('POST', '/api/v1/queue', { fileId: 'nope' }), 404);
          expectError(await api('POST', '/api/v1/queue', {}), 400, 'fileId');
          expectError(await api('POST', '/api/v1/queue', { fileId, copys: 2 }), 400, 'copys');
          expectError(await api('POST', '/api/v1/queue', { fileId, copies: 0 }), 400, 'copies');
          expectError(await api('POST', '/api/v1/queue', { fileId, plate: 9 }), 400, 'plate');
          expectError(
            await api('POST', '/api/v1/queue', { fileId, overrides: { timelapse: 'yes' } }),
            400,
            'timelapse',
          );
        });

        it('PATCH 200; reorder 200; DELETE one 204 and DELETE all 204 remove waiting items', async () => {
          const p = await api('PATCH', `/api/v1/queue/${itemId}`, { copies: 1, overrides: { timelapse: true } });
          expect(p.status, JSON.stringify(p.body)).toBe(200);
          expect(p.body).toMatchObject({ id: itemId, copies: 1, overrides: { timelapse: true } });
          expectError(await api('PATCH', '/api/v1/queue/nope', { copies: 1 }), 404);
          expectError(await api('PATCH', `/api/v1/queue/${itemId}`, { copies: -3 }), 400, 'copies');
          const b = (await api('POST', '/api/v1/queue', { fileId })).body;
          const c = (await api('POST', '/api/v1/queue', { fileId })).body;
          const re = await api('POST', '/api/v1/queue/reorder', { ids: [c.id, itemId, b.id] });
          expect(re.status, JSON.stringify(re.body)).toBe(200);
          const order = (await api('GET', '/api/v1/queue')).body.items.map((i: any) => i.id);
          expect(order).toEqual([c.id, itemId, b.id]);
          expectError(await api('POST', '/api/v1/queue/reorder', { ids: 'x' }), 400, 'ids');
          expect((await api('DELETE', `/api/v1/queue/${c.id}`)).status).toBe(204);
          expectError(await api('DELETE', `/api/v1/queue/${c.id}`), 404);
          expect((await api('DELETE', '/api/v1/queue')).status).toBe(204);
          expect((await api('GET', '/api/v1/queue')).body.items.filter((i: any) => i.status === 'waiting')).toEqual([]);
        });

        it('start/pause answer 200 {running}', async () => {
          const start = await api('POST', '/api/v1/queue/start');
          expect(start.status).toBe(200);
          expect(start.body).toEqual({ running: true });
          const pause = await api('POST', '/api/v1/queue/pause');
          expect(pause.status).toBe(200);
          expect(pause.body).toEqual({ running: false });
          expect((await api('GET', '/api/v1/queue')).body.running).toBe(false);
        });

        it('a printing item: 409 on DELETE item/printer/file, control 202, DELETE ?cancel=true 204', async () => {
          const item = (await api('POST', '/api/v1/queue', { fileId, printerIds: [printerId] })).body;
          expect((await api('POST', '/api/v1/queue/start')).status).toBe(200);
          await until(async () => {
            const p = (await api('GET', `/api/v1/printers/${printerId}`)).body;
            return p.state.status === 'printing' ? p : null;
          }, 'the printer to print');
          const printing = (await api('GET', '/api/v1/queue')).body.items.find((i: any) => i.id === item.id);
          expect(printing).toMatchObject({ status: 'printing', currentPrinterId: printerId });
          const q = (await api('GET', '/api/v1/queue')).body;
          expect(q.remainingSeconds).toBeGreaterThan(0);
          expect(q.finishAt).toMatch(ISO_UTC);
          const p = (await api('GET', `/api/v1/printers/${printerId}`)).body;
          expect(p.state.job).toMatchObject({ queueItemId: item.id, fileName: expect.any(String) });
          expect(p.state.progress).toEqual(expect.any(Number));

          expectError(await api('DELETE', `/api/v1/queue/${item.id}`), 409);
          expectError(await api('DELETE', `/api/v1/printers/${printerId}`), 409);
          expectError(await api('DELETE', `/api/v1/files/${fileId}`), 409);
          expectError(await api('POST', `/api/v1/printers/${printerId}/control`, { command: 'resume' }), 409);
          const pause = await api('POST', `/api/v1/printers/${printerId}/control`, { command: 'pause' });
          expect(pause.status, JSON.stringify(pause.body)).toBe(202);
          await until(
            async () => (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'paused',
            'paused',
          );
          const resume = await api('POST', `/api/v1/printers/${printerId}/control`, { command: 'resume' });
          expect(resume.status, JSON.stringify(resume.body)).toBe(202);
          await until(
            async () => (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'printing',
            'printing again',
          );

          // A cancel on the printer ends the job: job.failed and an alert reach the realtime stream.
          expect((await api('POST', '/api/v1/queue/pause')).status).toBe(200);
          const cancel = await api('POST', `/api/v1/printers/${printerId}/control`, { command: 'cancel' });
          expect(cancel.status, JSON.stringify(cancel.body)).toBe(202);
          const failed = await until(() => rt.messages.find((m) => m.type === 'job.failed'), 'job.failed');
          expect(failed.data).toMatchObject({ printerId, queueItemId: item.id });
          const alert = await until(
            () => rt.messages.find((m) => m.type === 'alert' && m.data.printerId === printerId),
            'alert',
          );
          expect(alert.data).toMatchObject({ level: expect.any(String), message: expect.any(String) });
          const back = await until(async () => {
            const i = (await api('GET', '/api/v1/queue')).body.items.find((x: any) => x.id === item.id);
            return i && i.status !== 'printing' ? i : null;
          }, 'the item to leave printing');
          // A cancel on the printer itself fails the item (it is not retried behind the user's back).
          expect(back.status).toBe('failed');
          expect(back.lastError).toEqual(expect.any(String));
          expect((await api('DELETE', `/api/v1/queue/${item.id}`)).status).toBe(204);

          // A second print: DELETE with ?cancel=true stops it and removes the item.
          await until(
            async () =>
              ['idle', 'finished'].includes((await api('GET', `/api/v1/printers/${printerId}`)).body.state.status),
            'idle again',
          );
          const item2 = (await api('POST', '/api/v1/queue', { fileId, printerIds: [printerId] })).body;
          expect((await api('POST', '/api/v1/queue/start')).status).toBe(200);
          await until(async () => {
            const i = (await api('GET', '/api/v1/queue')).body.items.find((x: any) => x.id === item2.id);
            return i?.status === 'printing';
          }, 'the second item to print');
          expect((await api('POST', '/api/v1/queue/pause')).status).toBe(200);
          expectError(await api('DELETE', `/api/v1/queue/${item2.id}`), 409);
          expect((await api('DELETE', `/api/v1/queue/${item2.id}?cancel=true`)).status).toBe(204);
          const after = (await api('GET', '/api/v1/queue')).body.items.find((i: any) => i.id === item2.id);
          expect(after).toBeUndefined();
          await until(async () => {
            const st = (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status;
            return st !== 'printing' && st !== 'paused' && st !== 'preparing';
          }, 'the print to stop');
        });

        it('a done item: PATCH 409; finished jobs reach the realtime stream', async () => {
          const fast = await api('POST', '/api/v1/printers', {
            name: 'fast-sim',
            driver: 'simulated-bambu',
            model: 'A1 mini',
            connection: { model: 'A1 mini', timeScale: 400, printSeconds: 200 },
            settings: { swapCooldownSeconds: 0 },
          });
          expect(fast.status, JSON.stringify(fast.body)).toBe(201);
          await until(
            async () => (await api('GET', `/api/v1/printers/${fast.body.id}`)).body.state.status === 'idle',
            'fast printer idle',
          );
          const item = (await api('POST', '/api/v1/queue', { fileId, printerIds: [fast.body.id] })).body;
          expect((await api('POST', '/api/v1/queue/start')).status).toBe(200);
          const done = await until(
            async () => {
              const i = (await api('GET', '/api/v1/queue')).body.items.find((x: any) => x.id === item.id);
              return i?.status === 'done' ? i : null;
            },
            'the item to be done',
            25_000,
          );
          expect(done.copiesDone).toBe(1);
          expectError(await api('PATCH', `/api/v1/queue/${item.id}`, { copies: 3 }), 409);
          expect((await api('POST', '/api/v1/queue/pause')).status).toBe(200);
          // Removing the printer now emits printer.removed.
          expect((await api('DELETE', `/api/v1/printers/${fast.body.id}`)).status).toBe(204);
        });

        it('a file deleted when unused emits file.removed', async () => {
          expect((await api('DELETE', '/api/v1/queue')).status).toBe(204);
          const up = await upload(s, tok, 'bye.gcode', ';FLAVOR:Marlin\n;TIME:30\nG28\n');
          expect(up.status).toBe(201);
          expect((await api('DELETE', `/api/v1/files/${up.body.id}`)).status).toBe(204);
        });
      });
    });

    describe('realtime events', () => {
      it('every event is {type, data, at} with the documented types, as they happened', async () => {
        const msgs = rt.messages.slice(1);
        for (const m of msgs) {
          expect(Object.keys(m).sort()).toEqual(['at', 'data', 'type']);
          expect(m.at).toMatch(ISO_UTC);
          expect(typeof m.data).toBe('object');
        }
        const types = new Set(msgs.map((m) => m.type));
        for (const t of [
          'printer.state',
          'printer.added',
          'printer.removed',
          'queue.changed',
          'job.started',
          'job.finished',
          'job.failed',
          'alert',
          'file.added',
          'file.removed',
        ]) {
          expect(types, t).toContain(t);
        }
        const alerts = msgs.filter((m) => m.type === 'alert');
        for (const a of alerts) {
          expect(a.data).toHaveProperty('level');
          expect(a.data).toHaveProperty('printerId');
          expect(typeof a.data.message).toBe('string');
        }
        expect(
          msgs.filter((m) => m.type === 'printer.added').map((m) => m.data.name ?? m.data.printer?.name),
        ).toContain('fast-sim');
        expect(msgs.filter((m) => m.type === 'file.added').map((m) => m.data.name ?? m.data.file?.name)).toContain(
          'benchy.gcode.3mf',
        );
        const started = msgs.find((m) => m.type === 'job.started');
        expect(started.data).toMatchObject({ printerId: expect.any(String), queueItemId: expect.any(String) });
        // An alert with printerId null (farm-wide) reaches clients in the documented shape too.
        const before = rt.messages.length;
        raiseAlert(s.infra.bus, { level: 'warning', code: 'test_alert', printerId: null, message: 'bed too hot' });
        await until(() => rt.messages.slice(before).some((m) => m.type === 'alert'), 'the alert');
        // The unread count follows it (`alerts.changed`); the alert itself comes first.
        const alert = rt.messages.slice(before).find((m) => m.type === 'alert');
        expect(alert).toMatchObject({
          type: 'alert',
          data: { id: expect.any(String), code: 'test_alert', level: 'warning', printerId: null, message: 'bed too hot' },
        });
        expect(alert.at).toMatch(ISO_UTC);
        // Printer secrets never travel: not in events, not in the event log.
        const log = await api('GET', '/api/v1/events?limit=1000');
        expect(log.status).toBe(200);
        for (const secret of ['secret1234', 'moonsecret99', 'newsecret77']) {
          expect(JSON.stringify(rt.messages)).not.toContain(secret);
          expect(JSON.stringify(log.body)).not.toContain(secret);
        }
        // At rest: API keys are stored hashed, printer secrets sealed (no plain text in the data dir).
        if (dialect === 'sqlite') {
          for (const f of fs.readdirSync(s.dataDir).filter((n) => n.startsWith('rwc.sqlite'))) {
            const bytes = fs.readFileSync(path.join(s.dataDir, f)).toString('latin1');
            for (const secret of [apiKeyShown, 'secret1234', 'newsecret77']) expect(bytes, f).not.toContain(secret);
          }
        }
        const state = msgs.find((m) => m.type === 'printer.state');
        expect(state.data).toMatchObject({ printerId: expect.any(String) });
      });
    });

    describe('limits and leftovers', () => {
      it('a JSON body over the limit is 413; an unknown route 404; both in the error shape', async () => {
        expectError(await api('POST', '/api/v1/queue', { fileId: 'x'.repeat(2 * 1024 * 1024) }), 413);
        expectError(await api('GET', '/api/v1/no-such-thing'), 404);
      });

      it('every time field is ISO-8601 UTC, every duration a number of seconds, every key camelCase', async () => {
        const bad: string[] = [];
        const walk = (v: unknown, where: string) => {
          if (Array.isArray(v)) {
            for (const [i, x] of v.entries()) walk(x, `${where}[${i}]`);
          } else if (v && typeof v === 'object') {
            for (const [k, x] of Object.entries(v)) {
              const at = `${where}.${k}`;
              if (/(At|Until)$/.test(k) && x !== null && !(typeof x === 'string' && ISO_UTC.test(x)))
                bad.push(`${at}=${x}`);
              if (/Seconds$/.test(k) && x !== null && typeof x !== 'number') bad.push(`${at}=${x}`);
              walk(x, at);
            }
          }
        };
        for (const url of ['/api/v1/printers', '/api/v1/files', '/api/v1/queue', '/api/v1/users', '/api/v1/api-keys']) {
          const r = await api('GET', url);
          expect(r.status, url).toBe(200);
          walk(r.body, url);
          bad.push(...camelKeys(r.body, url));
        }
        expect(bad).toEqual([]);
      });

      it('the browsable API page is served at /api/docs', async () => {
        const res = await fetch(`${s.url}/api/docs`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/text\/html/);
      });

      it('repeated failed logins are rate-limited with 429', async () => {
        let last = { status: 0, body: null as any };
        for (let i = 0; i < 15 && last.status !== 429; i++) {
          last = await s.api('POST', '/api/v1/auth/login', {
            body: { username: 'mallory', password: `guess-${i}-xx` },
          });
          if (last.status !== 429) expectError(last, 401);
        }
        expectError(last, 429);
      });
    });
  });
}
