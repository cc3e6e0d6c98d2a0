import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

describe('printers API: secrets and validation', () => {
  let s: TestServer;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer();
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => s?.destroy());

  // Port 9 on loopback: nothing listens, so the driver just keeps retrying in the background.
  const printer = {
    name: 'A1-unreachable',
    driver: 'bambu',
    model: 'A1',
    connection: { host: '127.0.0.1', serial: '03919C461100123', accessCode: 'SECRET42', mqttPort: 9, ftpsPort: 9, cameraPort: 9 },
  };

  it('never returns the access code and stores it encrypted', async () => {
    const created = await s.api('POST', '/api/v1/printers', { token, body: printer });
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain('SECRET42');
    expect(created.body.connection).toMatchObject({ host: '127.0.0.1', serial: '03919C461100123', accessCodeSet: true });
    const listed = await s.api('GET', '/api/v1/printers', { token });
    expect(JSON.stringify(listed.body)).not.toContain('SECRET42');
    const row = await s.infra.storage.db.selectFrom('printers').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    expect(row.connection_json).not.toContain('SECRET42');
    expect(row.connection_json).toContain('enc:v1:');
    // A patch without the secret keeps it; the state is never `idle` for a printer we cannot reach.
    const patched = await s.api('PATCH', `/api/v1/printers/${created.body.id}`, {
      token,
      body: { name: 'renamed', settings: { swapCooldownSeconds: 120 } },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'renamed', settings: { swapCooldownSeconds: 120 } });
    expect(['offline', 'connecting', 'unknown']).toContain(patched.body.state.status);
    expect(patched.body.state.gate.open).toBe(false);
  });

  it('answers 400 naming the field for a bad printer', async () => {
    const noSerial = await s.api('POST', '/api/v1/printers', {
      token,
      body: { ...printer, connection: { host: '127.0.0.1', accessCode: 'x' } },
    });
    expect(noSerial.status).toBe(400);
    expect(noSerial.body.error.message).toContain('connection.serial');
    const unknownDriver = await s.api('POST', '/api/v1/printers', { token, body: { ...printer, driver: 'teleporter' } });
    expect(unknownDriver.status).toBe(400);
    expect(unknownDriver.body.error.message).toMatch(/driver.*teleporter/);
    const badCooldown = await s.api('POST', '/api/v1/printers', { token, body: { ...printer, settings: { swapCooldownSeconds: -5 } } });
    expect(badCooldown.status).toBe(400);
    expect(badCooldown.body.error.message).toContain('swapCooldownSeconds');
  });

  it('refuses controls the printer state does not allow, and 404s unknown printers', async () => {
    const list = (await s.api('GET', '/api/v1/printers', { token })).body;
    const res = await s.api('POST', `/api/v1/printers/${list[0].id}/control`, { token, body: { command: 'resume' } });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/cannot resume/);
    expect((await s.api('GET', '/api/v1/printers/nope', { token })).status).toBe(404);
    expect((await s.api('POST', '/api/v1/printers/nope/control', { token, body: { command: 'pause' } })).status).toBe(404);
    const bad = await s.api('POST', `/api/v1/printers/${list[0].id}/control`, { token, body: { command: 'explode' } });
    expect(bad.status).toBe(400);
  });

  it('deletes a printer', async () => {
    const list = (await s.api('GET', '/api/v1/printers', { token })).body;
    expect((await s.api('DELETE', `/api/v1/printers/${list[0].id}`, { token })).status).toBe(204);
    expect((await s.api('GET', `/api/v1/printers/${list[0].id}`, { token })).status).toBe(404);
  });
});
