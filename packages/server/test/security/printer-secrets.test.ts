/**
 * Secrets follow the device, certificates change only with an admin, connection objects have a
 * schema per driver (issue 15).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BambuDriver } from '../../src/printers/bambu/driver.ts';
import type { PrinterState } from '../../src/printers/model.ts';
import { type Rig, startRig, waitFor } from '../bambu/helpers.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

describe('printer connections over the API', () => {
  let s: TestServer;
  let admin: string;
  let operator: string;
  beforeAll(async () => {
    s = await startTestServer();
    admin = (await setupAdmin(s)).accessToken;
    operator = (await s.api('POST', '/api/v1/api-keys', { token: admin, body: { name: 'op', role: 'operator' } })).body.key;
  });
  afterAll(async () => s?.destroy());

  const bambu = { host: '127.0.0.1', serial: 'SER123', accessCode: 'SECRET1', mqttPort: 1, ftpsPort: 1, cameraPort: 1 };
  const storedConnection = async (id: string) =>
    JSON.parse((await s.infra.storage.db.selectFrom('printers').select('connection_json').where('id', '=', id).executeTakeFirstOrThrow()).connection_json);

  it('refuses to point a printer at another device without its secret given again', async () => {
    const p = (await s.api('POST', '/api/v1/printers', { apiKey: operator, body: { name: 'b', driver: 'bambu', connection: bambu } })).body;
    const sealed = (await storedConnection(p.id)).accessCode;
    for (const change of [{ host: '10.9.9.9' }, { serial: 'OTHER1' }, { mqttPort: 8883 }, { ftpsPort: 2 }, { cameraPort: 2 }, { insecureTls: true }]) {
      const res = await s.api('PATCH', `/api/v1/printers/${p.id}`, { apiKey: operator, body: { connection: change } });
      expect(res.status, JSON.stringify(change)).toBe(400);
      expect(res.body.error.message).toContain('connection.accessCode');
    }
    expect((await storedConnection(p.id)).accessCode).toBe(sealed);
    // Same device: the stored secret stays, nothing to give.
    expect((await s.api('PATCH', `/api/v1/printers/${p.id}`, { apiKey: operator, body: { connection: { host: '127.0.0.1' } } })).status).toBe(200);
    expect((await s.api('PATCH', `/api/v1/printers/${p.id}`, { apiKey: operator, body: { name: 'renamed' } })).status).toBe(200);
    const moved = await s.api('PATCH', `/api/v1/printers/${p.id}`, { apiKey: operator, body: { connection: { host: '127.0.0.2', accessCode: 'NEWCODE' } } });
    expect(moved.status).toBe(200);
    expect(moved.body.connection).toMatchObject({ host: '127.0.0.2', accessCodeSet: true });
    expect(JSON.stringify(moved.body)).not.toContain('NEWCODE');
  });

  it('does the same for a Moonraker URL and its API key', async () => {
    const p = (await s.api('POST', '/api/v1/printers', { apiKey: operator, body: { name: 'k', driver: 'moonraker', connection: { url: 'http://127.0.0.1:1', apiKey: 'mr-key' } } })).body;
    const res = await s.api('PATCH', `/api/v1/printers/${p.id}`, { apiKey: operator, body: { connection: { url: 'http://10.9.9.9:7125' } } });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('connection.apiKey');
    const without = await s.api('PATCH', `/api/v1/printers/${p.id}`, { apiKey: operator, body: { connection: { url: 'http://127.0.0.3:7125', apiKey: null } } });
    expect(without.status).toBe(200);
    expect(without.body.connection.apiKeySet ?? false).toBe(false);
    expect((await storedConnection(p.id)).apiKey).toBeUndefined();
  });

  it('treats a simulated printer’s access code as a secret', async () => {
    const res = await s.api('POST', '/api/v1/printers', {
      apiKey: operator,
      body: { name: 'sim', driver: 'simulated-bambu', enabled: false, connection: { accessCode: 'SIMCODE1' } },
    });
    expect(res.status).toBe(201);
    expect(res.body.connection.accessCodeSet).toBe(true);
    expect(JSON.stringify(res.body)).not.toContain('SIMCODE1');
    expect(JSON.stringify(await storedConnection(res.body.id))).not.toContain('SIMCODE1');
  });

  it('refuses unknown and nested connection fields per driver, naming them', async () => {
    const unknown = await s.api('POST', '/api/v1/printers', { apiKey: operator, body: { name: 'x', driver: 'bambu', connection: { ...bambu, evil: 1 } } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('connection.evil');
    const nested = await s.api('POST', '/api/v1/printers', { apiKey: operator, body: { name: 'x', driver: 'marlin', connection: { url: { a: { b: { c: 1 } } } } } });
    expect(nested.status).toBe(400);
    expect(nested.body.error.message).toContain('connection.url');
    for (const driver of ['simulated-marlin', 'simulated-moonraker', 'moonraker', 'simulated-bambu']) {
      const res = await s.api('POST', '/api/v1/printers', { apiKey: operator, body: { name: 'x', driver, enabled: false, connection: { junk: { deep: true } } } });
      expect(res.status, driver).toBe(400);
      expect(res.body.error.message, driver).toContain('connection.junk');
    }
  });

  it('lets only an admin confirm a printer certificate', async () => {
    const p = (await s.api('GET', '/api/v1/printers', { token: admin })).body.find((x: any) => x.driver === 'bambu');
    const fp = 'a'.repeat(64);
    expect((await s.api('POST', `/api/v1/printers/${p.id}/certificate`, { apiKey: operator, body: { fingerprint256: fp } })).status).toBe(403);
    const res = await s.api('POST', `/api/v1/printers/${p.id}/certificate`, { token: admin, body: { fingerprint256: fp } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('certificate_not_presented');
  });
});

describe('bambu: a certificate change after the first connection waits for an admin', () => {
  let rig: Rig | null = null;
  afterEach(async () => {
    await rig?.close();
    rig = null;
  });

  it('does not pin on its own for a printer that connected before; the admin-confirmed fingerprint connects', async () => {
    const fast = { timing: { reconnectBaseMs: 100, reconnectMaxMs: 300 } };
    rig = await startRig({ sim: { presentCaChain: true }, connection: { caCertPem: undefined }, driver: fast, start: false });
    // This printer connected before (e.g. at another address, with another certificate).
    fs.writeFileSync(path.join(rig.dataDir, 'tls-seen.json'), JSON.stringify({ serial: rig.sim.serial, host: '10.0.0.7' }));
    const states: PrinterState[] = [];
    const driver = new BambuDriver({ ...rig.ctx, onState: (st) => states.push(st) }, fast);
    await driver.start();
    try {
      const refused = await waitFor(() => states.find((st) => /an admin must confirm/.test(st.connectionNote ?? '')), 'refusal');
      expect(refused.error?.code).toBe('tls_certificate');
      expect(fs.existsSync(path.join(rig.dataDir, 'tls-pin.json'))).toBe(false);
      expect(states.some((st) => st.fullStatus)).toBe(false);
      const candidate = JSON.parse(fs.readFileSync(path.join(rig.dataDir, 'tls-candidate.json'), 'utf8'));
      expect(refused.connectionNote).toContain(candidate.fingerprint256);
      await expect(driver.trustCertificate('b'.repeat(64))).rejects.toThrow(/fingerprint/);
      await driver.trustCertificate(candidate.fingerprint256);
      await waitFor(() => states.find((st) => st.status === 'idle' && st.fullStatus), 'idle with the confirmed certificate', 20_000);
      expect(JSON.parse(fs.readFileSync(path.join(rig.dataDir, 'tls-pin.json'), 'utf8')).fingerprint256).toBe(candidate.fingerprint256);
    } finally {
      await driver.stop();
    }
  });
});
