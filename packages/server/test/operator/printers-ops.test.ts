/**
 * Printers from the UI (issue 16), over real sockets against the simulators: edit with the add
 * validation, unique names, test-connection codes, the reason on the card, one unreachable alert per
 * outage, alerts acknowledged, and the printer page's controls and temperature history.
 */
import net from 'node:net';
import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { MarlinSimulator } from '@rwc/simulators/marlin/index.ts';
import { MoonrakerSimulator } from '@rwc/simulators/moonraker/index.ts';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

const KEY = 'ops-moonraker-key';

describe('operator: printers, test-connection, alerts, controls', () => {
  let s: TestServer;
  let token: string;
  let bambu: BambuSimulator;
  let marlin: MarlinSimulator;
  let moon: MoonrakerSimulator;
  let moon2: MoonrakerSimulator;
  let silent: net.Server;
  let silentPort: number;
  const ids: Record<string, string> = {};
  const ws: { type: string; data: any }[] = [];
  let socket: WebSocket;
  const api = (method: string, url: string, body?: unknown) => s.api(method, url, { token, body });

  beforeAll(async () => {
    bambu = new BambuSimulator({ model: 'A1', reportIntervalMs: 100, timeScale: 10 });
    marlin = new MarlinSimulator({ transport: 'tcp', timeScale: 0.01 });
    moon = new MoonrakerSimulator({ apiKey: KEY, timeScale: 0.1 });
    moon2 = new MoonrakerSimulator({ apiKey: 'other-key', timeScale: 0.1 });
    // Accepts and never says a word: the deadline must answer `timeout`.
    silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentPort = (silent.address() as net.AddressInfo).port;
    await Promise.all([bambu.start(), marlin.start(), moon.start(), moon2.start()]);
    s = await startTestServer({ config: { unreachableAlertSeconds: 1 } });
    token = (await setupAdmin(s)).accessToken;
    socket = new WebSocket(`${s.url.replace(/^http/, 'ws')}/api/v1/ws?token=${token}`);
    socket.on('message', (raw) => ws.push(JSON.parse(String(raw))));
    await new Promise((r) => socket.once('open', r));
    const add = async (name: string, body: Record<string, unknown>) => {
      const res = await api('POST', '/api/v1/printers', { name, ...body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids[name] = res.body.id;
    };
    await add('A1 one', { driver: 'bambu', model: 'A1', connection: bambu.connectionInfo() });
    await add('Ender', { driver: 'marlin', model: 'Ender-3', connection: { url: marlin.url } });
    await add('Voron', { driver: 'moonraker', connection: { url: moon.url, apiKey: KEY } });
    for (const id of Object.values(ids)) {
      await waitFor(async () => (await api('GET', `/api/v1/printers/${id}`)).body.state.status === 'idle', `printer ${id} idle`);
    }
  }, 60_000);

  afterAll(async () => {
    socket?.terminate();
    await s?.destroy();
    await Promise.all([bambu?.stop(), marlin?.stop(), moon?.stop(), moon2?.stop()]);
    silent?.close();
  });

  it('shows what the printer reports next to what was typed, with controls and no secrets', async () => {
    const p = await waitFor(async () => {
      const b = (await api('GET', `/api/v1/printers/${ids['A1 one']}`)).body;
      return b.state.reported.model && b;
    }, 'reported model');
    expect(p.model).toBe('A1');
    expect(p.state.reported).toMatchObject({ model: 'A1', nozzleDiameter: 0.4 });
    expect(p.state.connectionIssue).toBeNull();
    expect(p.state.gate).toHaveProperty('code');
    expect(p.controls).toEqual({ light: true, fan: true, gcode: false });
    expect(JSON.stringify(p)).not.toContain(bambu.connectionInfo().accessCode);
    const v = (await api('GET', `/api/v1/printers/${ids.Voron}`)).body;
    expect(v.controls).toEqual({ light: false, fan: true, gcode: true });
  });

  it('names are unique ignoring case, on add and on edit', async () => {
    const dup = await api('POST', '/api/v1/printers', { name: ' ender ', driver: 'marlin', connection: { url: marlin.url } });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toMatchObject({ code: 'printer_name_taken', params: { name: 'Ender' } });
    const rename = await api('PATCH', `/api/v1/printers/${ids.Voron}`, { name: 'A1 ONE' });
    expect(rename.status).toBe(409);
    expect(rename.body.error.code).toBe('printer_name_taken');
    const own = await api('PATCH', `/api/v1/printers/${ids.Voron}`, { name: 'voron' });
    expect(own.status).toBe(200);
    expect(own.body.name).toBe('voron');
  });

  it('test-connection before adding says ok, or what failed, in a code and words', async () => {
    const t = (body: unknown) => api('POST', '/api/v1/printers/test-connection', body);
    const good = await t({ driver: 'bambu', connection: bambu.connectionInfo(), timeoutSeconds: 10 });
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({ ok: true, code: 'ok', reported: { model: 'A1' } });

    const wrongCode = await t({ driver: 'bambu', connection: { ...bambu.connectionInfo(), accessCode: '00000000' } });
    expect(wrongCode.body).toMatchObject({ ok: false, code: 'wrong_access_code' });
    expect(wrongCode.body.message).toMatch(/access code/);

    const wrongSerial = await t({ driver: 'bambu', connection: { ...bambu.connectionInfo(), serial: 'WRONGSERIAL0001' } });
    expect(wrongSerial.body).toMatchObject({ ok: false, code: 'certificate_mismatch', params: { expectedSerial: 'WRONGSERIAL0001' } });

    const closed = await t({ driver: 'moonraker', connection: { url: 'http://127.0.0.1:9', apiKey: KEY } });
    expect(closed.body).toMatchObject({ ok: false, code: 'refused' });
    expect(closed.body.message).toMatch(/refused/);

    const badKey = await t({ driver: 'moonraker', connection: { url: moon.url, apiKey: 'nope' } });
    expect(badKey.body).toMatchObject({ ok: false, code: 'wrong_access_code' });

    const mr = await t({ driver: 'moonraker', connection: { url: moon.url, apiKey: KEY } });
    expect(mr.body).toMatchObject({ ok: true, code: 'ok' });

    const timeout = await t({ driver: 'moonraker', connection: { url: `http://127.0.0.1:${silentPort}` }, timeoutSeconds: 1 });
    expect(timeout.body).toMatchObject({ ok: false, code: 'timeout', params: { seconds: 1 } });

    const noPort = await t({ driver: 'marlin', connection: { path: '/dev/ttyRWC-missing-42' } });
    expect(noPort.body).toMatchObject({ ok: false, code: 'serial_port_missing', params: { path: '/dev/ttyRWC-missing-42' } });

    const invalid = await t({ driver: 'bambu', connection: { host: '127.0.0.1' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.message).toContain('connection.');
  }, 60_000);

  it("test-connection of a stored printer with a changed access code reports it; nothing is saved", async () => {
    const id = ids['A1 one'];
    const res = await api('POST', `/api/v1/printers/${id}/test-connection`, { connection: { accessCode: '11111111' } });
    expect(res.body).toMatchObject({ ok: false, code: 'wrong_access_code' });
    const same = await api('POST', `/api/v1/printers/${id}/test-connection`, {});
    expect(same.body.ok).toBe(true);
    // A new host without the secret again is refused like an edit: a stored secret never goes elsewhere.
    const moved = await api('POST', `/api/v1/printers/${id}/test-connection`, { connection: { host: 'localhost' } });
    expect(moved.status).toBe(400);
    expect(moved.body.error.message).toContain('connection.accessCode');
    expect((await api('GET', `/api/v1/printers/${id}`)).body.state.status).toBe('idle');
  }, 30_000);

  it('PATCH edits the connection with the add validation and the driver reconnects with it', async () => {
    const id = ids.Voron;
    const noKey = await api('PATCH', `/api/v1/printers/${id}`, { connection: { url: moon2.url } });
    expect(noKey.status).toBe(400);
    expect(noKey.body.error.message).toContain('connection.apiKey');
    const unknown = await api('PATCH', `/api/v1/printers/${id}`, { connection: { colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('connection.colour');
    const before = moon2.connectionsAccepted;
    const ok = await api('PATCH', `/api/v1/printers/${id}`, { connection: { url: moon2.url, apiKey: 'other-key' }, model: 'Voron 2.4', settings: { nozzleDiameter: 0.6 } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ model: 'Voron 2.4', settings: { nozzleDiameter: 0.6 }, connection: { url: moon2.url, apiKeySet: true } });
    expect(JSON.stringify(ok.body)).not.toContain('other-key');
    await waitFor(async () => (await api('GET', `/api/v1/printers/${id}`)).body.state.status === 'idle', 'idle on the new host');
    expect(moon2.connectionsAccepted).toBeGreaterThan(before);
  }, 30_000);

  it('an outage shows its reason on the card and raises ONE alert however many retries; acknowledging drops the count', async () => {
    const id = ids.Voron;
    const port = Number(new URL(moon2.url).port);
    await moon2.stop();
    const down = await waitFor(async () => {
      const st = (await api('GET', `/api/v1/printers/${id}`)).body.state;
      return st.connectionIssue?.code === 'refused' && st;
    }, 'refused on the card');
    expect(['offline', 'connecting']).toContain(down.status);
    expect(down.connectionIssue.message).toMatch(/refused/);
    const alert = await waitFor(
      () => ws.find((e) => e.type === 'alert' && e.data.code === 'printer_unreachable' && e.data.printerId === id),
      'unreachable alert',
    );
    // Reconnect attempts go on (backoff 1 s, 2 s, …): still one alert.
    const attempts = () => ws.filter((e) => e.type === 'printer.state' && e.data.printerId === id && e.data.state.status === 'offline').length;
    const seen = attempts();
    await waitFor(() => attempts() >= seen + 1, 'another reconnect attempt after the alert', 20_000);
    expect(attempts()).toBeGreaterThanOrEqual(2);
    expect(ws.filter((e) => e.type === 'alert' && e.data.code === 'printer_unreachable' && e.data.printerId === id)).toHaveLength(1);
    expect(alert.data).toMatchObject({ level: 'warning', params: { printerName: 'voron', reason: 'refused' }, acknowledgedAt: null });

    const list = await api('GET', '/api/v1/alerts?acknowledged=false');
    expect(list.status).toBe(200);
    const item = list.body.items.find((a: any) => a.id === alert.data.id);
    expect(item).toMatchObject({ code: 'printer_unreachable', printerId: id, acknowledgedBy: null });
    expect(list.body.unacknowledged).toBeGreaterThanOrEqual(1);
    const n = list.body.unacknowledged;
    const ack = await api('POST', `/api/v1/alerts/${alert.data.id}/acknowledge`);
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id: alert.data.id, acknowledgedBy: 'admin' });
    expect(ack.body.acknowledgedAt).toEqual(expect.any(String));
    await waitFor(() => ws.find((e) => e.type === 'alerts.changed' && e.data.acknowledged.includes(alert.data.id) && e.data.unacknowledged === n - 1), 'alerts.changed');
    expect((await api('GET', '/api/v1/alerts?acknowledged=false')).body.unacknowledged).toBe(n - 1);
    expect((await api('POST', '/api/v1/alerts/nope/acknowledge')).status).toBe(404);

    // Back up, then down again: a new outage raises a new alert.
    moon2 = new MoonrakerSimulator({ apiKey: 'other-key', timeScale: 0.1, port });
    await moon2.start();
    await waitFor(async () => (await api('GET', `/api/v1/printers/${id}`)).body.state.status === 'idle', 'back', 30_000);
    await moon2.stop();
    await waitFor(() => ws.filter((e) => e.type === 'alert' && e.data.code === 'printer_unreachable' && e.data.printerId === id).length === 2, 'second outage alert');
  }, 60_000);

  it('console, fan and light reach the printers; answers come back', async () => {
    const m = ids.Ender;
    const temps = await api('POST', `/api/v1/printers/${m}/gcode`, { lines: ['M105'] });
    expect(temps.status).toBe(200);
    expect(temps.body.lines.join('\n')).toMatch(/ok T:/);
    const pos = await api('POST', `/api/v1/printers/${m}/gcode`, { lines: ['M114'] });
    expect(pos.body.lines.join('\n')).toMatch(/X:0\.00 Y:0\.00/);
    expect((await api('POST', `/api/v1/printers/${m}/fan`, { percent: 50 })).status).toBe(202);
    expect((await api('POST', `/api/v1/printers/${m}/light`, { on: true })).status).toBe(202);
    await waitFor(() => marlin.firmware?.commandLog.includes('M106 S128') && marlin.firmware.commandLog.includes('M355 S1'), 'fan and light at the Marlin simulator');

    const b = ids['A1 one'];
    expect((await api('POST', `/api/v1/printers/${b}/light`, { on: true })).status).toBe(202);
    await waitFor(() => bambu.status.lights_report.some((l) => l.node === 'chamber_light' && l.mode === 'on'), 'chamber light on');
    const noConsole = await api('POST', `/api/v1/printers/${b}/gcode`, { lines: ['M105'] });
    expect(noConsole.status).toBe(409);
    expect(noConsole.body.error.code).toBe('not_supported');
    expect((await api('POST', `/api/v1/printers/${m}/gcode`, { lines: ['M105\nM112'] })).status).toBe(400);
    expect((await api('POST', `/api/v1/printers/${m}/fan`, { percent: 101 })).status).toBe(400);
  }, 30_000);

  it('Klipper console answers with its gcode responses', async () => {
    const k = await api('POST', '/api/v1/printers', { name: 'Klipper 2', driver: 'moonraker', connection: { url: moon.url, apiKey: KEY } });
    await waitFor(async () => (await api('GET', `/api/v1/printers/${k.body.id}`)).body.state.status === 'idle', 'klipper idle');
    const res = await api('POST', `/api/v1/printers/${k.body.id}/gcode`, { lines: ['M105', 'FOO'] });
    expect(res.status).toBe(200);
    expect(res.body.lines[0]).toMatch(/^ok T:/);
    expect(res.body.lines.join('\n')).toMatch(/Unknown command:"FOO"/);
    expect((await api('POST', `/api/v1/printers/${k.body.id}/fan`, { percent: 100 })).status).toBe(202);
    expect(moon.gcodeLog).toContain('M106 S255');
  }, 30_000);

  it('keeps temperature history on the server for the chart', async () => {
    const id = ids['A1 one'];
    const res = await waitFor(async () => {
      const r = await api('GET', `/api/v1/printers/${id}/temperatures`);
      return r.body.points.length > 0 && r;
    }, 'a temperature point');
    expect(res.body.intervalSeconds).toBe(10);
    expect(res.body.points[0]).toMatchObject({ at: expect.any(String), nozzle: { actual: expect.any(Number), target: expect.any(Number) } });
    const future = await api('GET', `/api/v1/printers/${id}/temperatures?since=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`);
    expect(future.body.points).toEqual([]);
    expect((await api('GET', '/api/v1/printers/nope/temperatures')).status).toBe(404);
  });
});
