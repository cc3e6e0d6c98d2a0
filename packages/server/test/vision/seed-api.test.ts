/**
 * Seed 002's endpoints as docs/api.md fixes them, on the real server with a Bambu simulator (its
 * TLS camera on the port-6000 protocol) and a Moonraker simulator (announced webcam):
 * snapshot → stored, authenticated JPEG → analysis; latest/history; printer status and control
 * with and without printerId; the offered /predict posting to a callback; per-printer settings;
 * and a failing detector that is recorded but never pauses a print.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { renderPrintScene } from '@rwc/simulators/camera/print-scene.ts';
import { MoonrakerSimulator } from '@rwc/simulators/moonraker/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

describe('seed 002 endpoints', () => {
  let s: TestServer;
  let token: string;
  let bambu: BambuSimulator;
  let moon: MoonrakerSimulator;
  let bambuId: string;
  let moonId: string;
  let receiver: http.Server;
  let receiverUrl: string;
  const received: any[] = [];
  let spaghetti: Buffer;
  const api = (method: string, url: string, body?: unknown) => s.api(method, url, { token, body });

  beforeAll(async () => {
    bambu = new BambuSimulator({ model: 'A1', timeScale: 1, reportIntervalMs: 100 });
    moon = new MoonrakerSimulator({ timeScale: 1, printSeconds: 1200 });
    await Promise.all([bambu.start(), moon.start()]);
    s = await startTestServer();
    ({ accessToken: token } = await setupAdmin(s));
    bambuId = (
      await api('POST', '/api/v1/printers', {
        name: 'A1-cam',
        driver: 'bambu',
        model: 'A1',
        connection: bambu.connectionInfo(),
      })
    ).body.id;
    moonId = (
      await api('POST', '/api/v1/printers', { name: 'Klipper-cam', driver: 'moonraker', connection: { url: moon.url } })
    ).body.id;
    for (const id of [bambuId, moonId]) {
      await waitFor(
        async () => (await api('GET', `/api/v1/printers/${id}`)).body.state.status === 'idle',
        `printer ${id} idle`,
        30_000,
      );
    }
    spaghetti = await renderPrintScene({ state: 'printing', progress: 40, spaghetti: 0.5 });
    receiver = http.createServer(async (req, res) => {
      let body = '';
      for await (const c of req) body += c;
      if (req.url === '/img.jpg') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        return res.end(spaghetti);
      }
      if (req.method !== 'POST') return void res.writeHead(404).end('not found');
      received.push({ url: req.url, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  }, 90_000);

  afterAll(async () => {
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
    await s?.destroy();
    await Promise.all([bambu?.stop(), moon?.stop()]);
  });

  it('printer/status and printer/control need printerId when there are several printers', async () => {
    const res = await api('GET', '/api/v1/printer/status');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('printer_id_required');
    expect(res.body.error.message).toContain(bambuId);
    expect(res.body.error.message).toContain(moonId);
    const ctl = await api('POST', '/api/v1/printer/control', { command: 'pause' });
    expect(ctl.status).toBe(400);
    expect((await api('GET', '/api/v1/printer/status?printerId=nope')).status).toBe(404);
    const bad = await api('POST', '/api/v1/printer/control', { command: 'explode', printerId: bambuId });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/"pause", "resume", "cancel"/);
    const idle = await api('POST', '/api/v1/printer/control', { command: 'pause', printerId: bambuId });
    expect(idle.status).toBe(409);
    expect((await s.api('GET', `/api/v1/printer/status?printerId=${bambuId}`)).status).toBe(401);
  });

  it('printer/status answers in the seed shape', async () => {
    const res = await api('GET', `/api/v1/printer/status?printerId=${moonId}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'idle',
      details: {
        temperature: { bed: expect.any(Number), tool0: expect.any(Number) },
        progress: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number'),
        remaining_time: null,
      },
      printerId: moonId,
      name: 'Klipper-cam',
    });
  });

  it('camera/snapshot takes a picture through the Bambu port-6000 camera and serves it authenticated', async () => {
    const res = await api('POST', '/api/v1/camera/snapshot', { printerId: bambuId });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      status: 'success',
      message: expect.any(String),
      printerId: bambuId,
      camera: 'printer',
    });
    expect(res.body.image_url).toMatch(new RegExp(`^${s.url}/api/v1/ai/frames/f_`));
    const img = await fetch(res.body.image_url, { headers: { authorization: `Bearer ${token}` } });
    expect(img.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(Buffer.from(await img.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([1280, 720]);
    expect((await fetch(res.body.image_url)).status).toBe(401);
    // The picture went on to the (stand-in) detector: a clean, idle printer.
    const latest = await waitFor(async () => {
      const l = (await api('GET', `/api/v1/ai/analysis/latest?printerId=${bambuId}`)).body;
      return l.result ? l : null;
    }, 'the analysis of the snapshot');
    expect(latest).toMatchObject({
      status: 'success',
      result: { has_defect: false, confidence: 0, defects: [], predict_model: 'standin-tangle-1' },
    });
    expect((await api('POST', '/api/v1/camera/snapshot', { printerId: bambuId, camera_id: 'nope' })).status).toBe(404);
  });

  it('"AI check now" sees spaghetti on the camera and names where it is', async () => {
    bambu.startSpaghetti();
    const res = await api('POST', `/api/v1/ai/printers/${bambuId}/check`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ trigger: 'manual', status: 'ok', detector: 'standin', reason: 'manual_check' });
    expect(res.body.detections.length).toBeGreaterThan(0);
    expect(res.body.score).toBeGreaterThan(0.5);
    const latest = (await api('GET', `/api/v1/ai/analysis/latest?printerId=${bambuId}`)).body;
    expect(latest.result.has_defect).toBe(true);
    expect(latest.result.defects[0].location).toMatch(/^(top|middle|bottom) (left|center|right)$|^center$/);
    const history = (await api('GET', `/api/v1/ai/analysis?printerId=${bambuId}&limit=10`)).body;
    expect(history.status).toBe('success');
    expect(history.items.length).toBeGreaterThanOrEqual(2);
    expect(history.items[0].frameUrl).toMatch(/^\/api\/v1\/ai\/frames\//);
    bambu.stopSpaghetti();
  });

  it('the Moonraker printer picks up its announced webcam by itself', async () => {
    const res = await api('POST', '/api/v1/camera/snapshot', { printerId: moonId });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(moon.calls).toContain('server.webcams.list');
  });

  it('offers POST /predict: the local detector answers at the callback', async () => {
    const res = await api('POST', '/api/v1/predict', {
      image_url: `${receiverUrl}/img.jpg`,
      task_id: 'PT202403120001',
      callback_url: `${receiverUrl}/cb?x=1`,
    });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'accepted', message: 'Analysis request received.' });
    const cb = await waitFor(() => received.find((r) => r.body.task_id === 'PT202403120001'), 'the callback');
    expect(cb.url).toBe('/cb?x=1');
    expect(cb.body).toMatchObject({
      status: 'success',
      result: { predict_model: 'standin-tangle-1', has_defect: true, defect_type: 'failure' },
    });
    expect(cb.body.result.confidence).toBeGreaterThan(0.2);
    expect(cb.body.result.detections[0]).toEqual({
      label: 'failure',
      confidence: expect.any(Number),
      box: [expect.any(Number), expect.any(Number), expect.any(Number), expect.any(Number)],
    });

    // Seed §3 on one machine: the image_url that /camera/snapshot gave (an authenticated frame of
    // this server) goes to /predict as is.
    const shot = (await api('POST', '/api/v1/camera/snapshot', { printerId: bambuId })).body;
    await api('POST', '/api/v1/predict', {
      image_url: shot.image_url,
      task_id: 'T-own-frame',
      callback_url: `${receiverUrl}/cb`,
    });
    const own = await waitFor(() => received.find((r) => r.body.task_id === 'T-own-frame'), 'the own-frame callback');
    expect(own.body, JSON.stringify(own.body)).toMatchObject({
      status: 'success',
      result: { predict_model: 'standin-tangle-1' },
    });

    await api('POST', '/api/v1/predict', {
      image_url: `${receiverUrl}/missing.jpg`,
      task_id: 'T-missing',
      callback_url: `${receiverUrl}/cb`,
    });
    const err = await waitFor(() => received.find((r) => r.body.task_id === 'T-missing'), 'the error callback');
    expect(err.body).toMatchObject({ status: 'error', message: expect.stringMatching(/HTTP 404|camera/) });

    expect(
      (
        await api('POST', '/api/v1/predict', {
          image_url: 'file:///etc/passwd',
          task_id: 'x',
          callback_url: `${receiverUrl}/cb`,
        })
      ).status,
    ).toBe(400);
    expect((await api('POST', '/api/v1/predict', { task_id: 'x' })).status).toBe(400);
    expect(
      (
        await s.api('POST', '/api/v1/predict', {
          body: { image_url: 'http://x', task_id: 'x', callback_url: 'http://x' },
        })
      ).status,
    ).toBe(401);
  });

  it('per-printer settings are validated and stored', async () => {
    const bad = await api('PUT', `/api/v1/ai/printers/${moonId}/settings`, { sensitivity: 1.5 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/sensitivity/);
    expect((await api('PUT', `/api/v1/ai/printers/${moonId}/settings`, { colour: 'red' })).status).toBe(400);
    expect(
      (await api('PUT', `/api/v1/ai/printers/${moonId}/settings`, { regions: [{ x: 0.5, y: 0, w: 0.8, h: 1 }] }))
        .status,
    ).toBe(400);
    const ok = await api('PUT', `/api/v1/ai/printers/${moonId}/settings`, {
      enabled: true,
      action: 'warn',
      confidenceThreshold: 0.4,
      regions: [{ x: 0.1, y: 0.2, w: 0.8, h: 0.7 }],
    });
    expect(ok.status).toBe(200);
    const view = (await api('GET', `/api/v1/ai/printers/${moonId}`)).body;
    expect(view.settings).toMatchObject({ enabled: true, action: 'warn', confidenceThreshold: 0.4, sensitivity: 1 });
    expect(view.lines).toEqual({ warn: 0.38, pause: 0.57 });
    const asViewer = await api('POST', '/api/v1/users', {
      username: 'watcher',
      password: 'watcher-pass-1',
      role: 'viewer',
    });
    expect(asViewer.status).toBe(201);
    const login = await s.api('POST', '/api/v1/auth/login', {
      body: { username: 'watcher', password: 'watcher-pass-1' },
    });
    expect(
      (
        await s.api('PUT', `/api/v1/ai/printers/${moonId}/settings`, {
          token: login.body.accessToken,
          body: { enabled: false },
        })
      ).status,
    ).toBe(403);
  });

  it('a failing detector is recorded and never pauses the print', async () => {
    const det = await api('POST', '/api/v1/ai/detectors', {
      name: 'dead',
      kind: 'obico',
      config: { url: 'http://127.0.0.1:1', timeoutSeconds: 1 },
    });
    expect(det.status).toBe(201);
    await api('PUT', `/api/v1/ai/printers/${moonId}/settings`, {
      enabled: true,
      action: 'pause',
      detector: 'dead',
      intervalSeconds: 2,
      regions: [],
      rule: { warmupFrames: 0 },
    });
    moon.startSpaghetti();
    const form = new FormData();
    form.append('file', new Blob(['G28\nG1 X10\n']), 'part.gcode');
    form.append('print', 'true');
    expect((await fetch(`${moon.url}/server/files/upload`, { method: 'POST', body: form })).status).toBe(201);
    await waitFor(
      async () => (await api('GET', `/api/v1/printers/${moonId}`)).body.state.status === 'printing',
      'printing',
    );
    const errors = await waitFor(
      async () => {
        const items = (await api('GET', `/api/v1/ai/analysis?printerId=${moonId}&limit=20`)).body.items as any[];
        const e = items.filter((a) => a.trigger === 'auto' && a.status === 'error');
        return e.length >= 3 ? e : null;
      },
      'three failed checks',
      30_000,
    );
    expect(errors[0]).toMatchObject({
      reason: 'detector_failed',
      verdict: null,
      error: expect.stringMatching(/^detector: Obico ML API: cannot reach/),
    });
    expect((await api('GET', `/api/v1/printers/${moonId}`)).body.state.status).toBe('printing');
    expect(moon.calls).not.toContain('printer.print.pause');
    await api('POST', '/api/v1/printer/control', { command: 'cancel', printerId: moonId });
  });
});
