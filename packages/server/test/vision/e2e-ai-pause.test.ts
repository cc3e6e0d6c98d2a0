/**
 * End to end over real sockets: a Moonraker simulator (real JSON-RPC WebSocket, webcam announced
 * through server.webcams.list and served as HTTP snapshots) printing a queue job, watched by the
 * AI with the built-in stand-in detector. When the print turns into spaghetti the AI pauses the
 * printer through Moonraker exactly once for that print, pauses the queue, and the alert carries
 * the frame (served as a JPEG) and the boxes. A resume does not pause it again.
 */
import { MoonrakerSimulator } from '@rwc/simulators/moonraker/index.ts';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';
import { plainGcode } from '../e2e/mixed-fleet-helpers.ts';

const KEY = 'vision-e2e-key';

// SQLite only: the AI history on PostgreSQL is covered by camera-frames.test.ts; this walk is the
// slowest test there is (real-time checks every 2 s) and CI has a 20-minute budget.
describe.each(['sqlite'] as const)('AI pause of a simulated printer whose print turns into spaghetti (%s)', (dialect) => {
  let server: TestServer;
  let sim: MoonrakerSimulator;
  let token: string;
  let printerId: string;
  const events: Array<{ type: string; data: any }> = [];
  let ws: WebSocket;
  const api = (method: string, url: string, body?: unknown) => server.api(method, url, { token, body });

  beforeAll(async () => {
    // A 20-minute print in real time: it is still printing whenever the test looks.
    sim = new MoonrakerSimulator({ apiKey: KEY, timeScale: 1, printSeconds: 1200 });
    await sim.start();
    server = await startTestServer({ dialect });
    ({ accessToken: token } = await setupAdmin(server));
    ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/ws?token=${token}`);
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw));
      if (m?.type) events.push(m);
    });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const res = await api('POST', '/api/v1/printers', {
      name: 'Voron',
      driver: 'moonraker',
      connection: { url: sim.url, apiKey: KEY },
      settings: { swapCooldownSeconds: 0, nozzleDiameter: 0.4 },
    });
    expect(res.status).toBe(201);
    printerId = res.body.id;
    await waitFor(
      async () => (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'idle',
      'printer idle',
    );
    const put = await api('PUT', `/api/v1/ai/printers/${printerId}/settings`, {
      enabled: true,
      detector: 'standin',
      intervalSeconds: 2,
      rule: { warmupFrames: 3 },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
  }, 60_000);

  afterAll(async () => {
    ws?.terminate();
    await server?.destroy();
    await sim?.stop();
  });

  it('seed endpoints act on the only printer when printerId is left out', async () => {
    const st = await api('GET', '/api/v1/printer/status');
    expect(st.status).toBe(200);
    expect(st.body).toMatchObject({ status: 'idle', printerId });
    const snap = await api('POST', '/api/v1/camera/snapshot', {});
    expect(snap.status, JSON.stringify(snap.body)).toBe(200);
    expect(snap.body.printerId).toBe(printerId);
  });

  it('watches the clean print, then pauses it once when spaghetti appears', async () => {
    const form = new FormData();
    form.append('file', new Blob([plainGcode(4000, 1200)]), 'tower.gcode');
    const up = await server.api('POST', '/api/v1/files', { token, body: form });
    expect(up.status).toBe(201);
    const q = await api('POST', '/api/v1/queue', { fileId: up.body.id });
    expect(q.status).toBe(201);
    await waitFor(
      async () => (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'printing',
      'printing',
      30_000,
    );

    // The clean print: checks run, the warm-up passes, nothing is flagged.
    const clean = await waitFor(
      async () => {
        const h = (await api('GET', `/api/v1/ai/analysis?printerId=${printerId}&limit=50`)).body.items as any[];
        const auto = h.filter((a) => a.trigger === 'auto' && a.status === 'ok');
        return auto.length >= 5 ? auto : null;
      },
      'five clean checks',
      60_000,
    );
    expect(clean.every((a) => a.verdict === 'ok' && a.score === 0)).toBe(true);
    expect(clean.some((a) => a.reason === 'below_threshold')).toBe(true);

    sim.startSpaghetti();
    const pauseAlert = await waitFor(
      () => events.find((e) => e.type === 'alert' && e.data.code === 'ai_paused_print')?.data,
      'the AI pause alert',
      // Checks every 2 s; the temporal rule needs several failing frames. A loaded CI machine (two
      // test workers, each with servers, simulators and plugin processes) stretches every check.
      180_000,
    );
    expect(pauseAlert.printerId).toBe(printerId);
    expect(pauseAlert.level).toBe('error');
    expect(pauseAlert.message).toMatch(/AI paused Voron/);
    expect(pauseAlert.params.boxes.length).toBeGreaterThan(0);
    expect(pauseAlert.params.frameUrl).toMatch(/^\/api\/v1\/ai\/frames\/f_/);
    // The frame behind the pause is served (authenticated) as a JPEG.
    const frame = await fetch(server.url + pauseAlert.params.frameUrl, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(frame.status).toBe(200);
    expect(frame.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await frame.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect((await fetch(server.url + pauseAlert.params.frameUrl)).status).toBe(401);

    // The printer's own pause went through Moonraker; the queue is paused.
    await waitFor(
      async () => (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'paused',
      'printer paused',
    );
    expect(sim.calls).toContain('printer.print.pause');
    // Its stage names the AI, not a user, as the one who paused it.
    expect((await api('GET', `/api/v1/printers/${printerId}`)).body.state.stageCode).toBe('paused_by_ai');
    expect((await api('GET', '/api/v1/queue')).body.running).toBe(false);
    const latest = (await api('GET', `/api/v1/ai/analysis/latest?printerId=${printerId}`)).body;
    expect(latest.status).toBe('success');
    expect(latest.result.has_defect).toBe(true);
    expect(latest.result.defects[0]).toEqual(
      expect.objectContaining({ type: 'failure', location: expect.any(String) }),
    );

    // Resumed with the spaghetti still there: checks go on, warnings may come, no second pause.
    const resumed = await api('POST', '/api/v1/printer/control', { command: 'resume', printerId });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    await waitFor(
      async () => (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'printing',
      'printing again',
    );
    expect((await api('GET', `/api/v1/printers/${printerId}`)).body.state.stageCode).not.toBe('paused_by_ai');
    const pausedAt = pauseAlert.params.analysisId;
    await waitFor(
      async () => {
        const h = (await api('GET', `/api/v1/ai/analysis?printerId=${printerId}&limit=100`)).body.items as any[];
        const idx = h.findIndex((a) => a.id === pausedAt);
        return idx >= 6 ? h : null; // six more checks after the pause
      },
      'six checks after the resume',
      60_000,
    );
    expect(events.filter((e) => e.type === 'alert' && e.data.code === 'ai_paused_print')).toHaveLength(1);
    expect((await api('GET', `/api/v1/printers/${printerId}`)).body.state.status).toBe('printing');
    expect(sim.calls.filter((c) => c === 'printer.print.pause')).toHaveLength(1);
  }, 360_000);
});
