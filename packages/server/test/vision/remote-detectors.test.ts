/**
 * The detectors that live elsewhere, each against a local stand-in over real HTTP, through the
 * real server (its task routes serve the frame and take the callback):
 * - seed 002's asynchronous service: accepted → image downloaded → callback; seed-only answers;
 *   refusals (5xx, garbage, never calling back, an error result) end as clear errors;
 * - callbacks: missing, forged, for an unknown task, for another task, replayed, HMAC-signed;
 * - Obico's ML API: bearer token, centre boxes → top-left, 4xx/5xx, garbage, slowness.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void | Promise<void>;

async function standIn(): Promise<{
  url: string;
  handle: (h: Handler) => void;
  requests: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}> {
  let handler: Handler = (_q, _b, res) => void res.end();
  const requests: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    requests.push({ url: req.url ?? '', headers: req.headers, body });
    await handler(req, body, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handle: (h) => (handler = h),
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

describe('remote detectors against stand-ins over HTTP', () => {
  let s: TestServer;
  let token: string;
  let svc: Awaited<ReturnType<typeof standIn>>;
  let frame: Buffer;
  const api = (method: string, url: string, body?: unknown) => s.api(method, url, { token, body });
  const detector = (name: string) => s.vision.detectors.get(name)!;

  beforeAll(async () => {
    s = await startTestServer();
    ({ accessToken: token } = await setupAdmin(s));
    svc = await standIn();
    frame = await sharp({ create: { width: 640, height: 360, channels: 3, background: '#336699' } })
      .jpeg()
      .toBuffer();
    for (const body of [
      { name: 'cloud', kind: 'seed-service', config: { url: svc.url, token: 'svc-secret', timeoutSeconds: 2 } },
      { name: 'obico', kind: 'obico', config: { url: svc.url, token: 'ml-token', timeoutSeconds: 1 } },
    ]) {
      const res = await api('POST', '/api/v1/ai/detectors', body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.config.token).toBeUndefined();
      expect(res.body.config.tokenSet).toBe(true);
    }
  });
  afterAll(async () => {
    await svc?.close();
    await s?.destroy();
  });

  /** Plays the service: accepts, downloads the frame, then posts `result` (or nothing). */
  function acceptThen(result: (task: { task_id: string; image: Buffer }) => unknown | null) {
    svc.handle(async (req, body, res) => {
      expect(req.url).toBe('/api/v1/predict');
      expect(req.headers.authorization).toBe('Bearer svc-secret');
      const { image_url, task_id, callback_url } = JSON.parse(body);
      json(res, 200, { status: 'accepted', message: 'Analysis request received.' });
      const image = Buffer.from(await (await fetch(image_url)).arrayBuffer());
      const answer = result({ task_id, image });
      if (answer !== null)
        await fetch(callback_url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(answer),
        });
    });
  }

  it('seed service: the result arrives at the callback with detections', async () => {
    let seen: Buffer | null = null;
    acceptThen(({ task_id, image }) => {
      seen = image;
      return {
        task_id,
        status: 'success',
        result: {
          predict_model: 'YOLO11',
          has_defect: true,
          defect_type: 'spaghetti',
          confidence: 0.95,
          detections: [{ label: 'spaghetti', confidence: 0.95, box: [10, 20, 30, 40] }],
        },
      };
    });
    const res = await detector('cloud').detect({ jpeg: frame, printerId: 'p1' });
    expect(res).toEqual({
      model: 'YOLO11',
      detections: [{ label: 'spaghetti', confidence: 0.95, box: [10, 20, 30, 40] }],
    });
    expect(seen).toEqual(frame); // the service got exactly our frame through its task URL
  });

  it('seed service: a seed-only answer (no boxes) becomes one box over the frame', async () => {
    acceptThen(({ task_id }) => ({
      task_id,
      status: 'success',
      result: { predict_model: 'YOLO11', has_defect: true, defect_type: 'stringing', confidence: 0.8 },
    }));
    const res = await detector('cloud').detect({ jpeg: frame });
    expect(res.detections).toEqual([{ label: 'stringing', confidence: 0.8, box: [0, 0, 640, 360] }]);
    acceptThen(({ task_id }) => ({
      task_id,
      status: 'success',
      result: { predict_model: 'YOLO11', has_defect: false, confidence: 0.1 },
    }));
    expect((await detector('cloud').detect({ jpeg: frame })).detections).toEqual([]);
  });

  it('seed service: 5xx, garbage, an error result and silence are clear errors', async () => {
    svc.handle((_q, _b, res) => json(res, 503, { message: 'GPU busy' }));
    await expect(detector('cloud').detect({ jpeg: frame })).rejects.toThrow(/AI service: HTTP 503 \(GPU busy\)/);
    svc.handle((_q, _b, res) => json(res, 200, '<html>oops'));
    await expect(detector('cloud').detect({ jpeg: frame })).rejects.toThrow(/not JSON/);
    svc.handle((_q, _b, res) => json(res, 200, { status: 'rejected' }));
    await expect(detector('cloud').detect({ jpeg: frame })).rejects.toThrow(/did not accept/);
    acceptThen(({ task_id }) => ({ task_id, status: 'error', message: 'model crashed' }));
    await expect(detector('cloud').detect({ jpeg: frame })).rejects.toThrow(/reported an error: model crashed/);
    acceptThen(() => null);
    await expect(detector('cloud').detect({ jpeg: frame })).rejects.toThrow(/no result within 2 s/);
    svc.handle((_q, _b, res) => json(res, 200, { status: 'accepted', result: 'x'.repeat(5 * 1024 * 1024) }));
    await expect(detector('cloud').detect({ jpeg: frame })).rejects.toThrow(/too large/);
  });

  it('callbacks: only the credential issued for that pending task is accepted, once', async () => {
    let captured = null as { task_id: string; callback_url: string; image_url: string } | null;
    svc.handle((_q, body, res) => {
      captured = JSON.parse(body);
      json(res, 200, { status: 'accepted' });
    });
    const pending = detector('cloud').detect({ jpeg: frame });
    pending.catch(() => {});
    const task = await waitFor(() => captured, 'the predict request');
    const good = new URL(task.callback_url);
    const tokenOf = good.searchParams.get('token')!;
    const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const result = {
      task_id: task.task_id,
      status: 'success',
      result: { predict_model: 'X', has_defect: false, confidence: 0 },
    };
    const cb = `${s.url}/api/v1/ai/callback`;

    expect((await post(cb, result)).status).toBe(401); // no credential
    expect((await post(`${cb}?token=forged`, result)).status).toBe(403); // forged credential
    expect((await post(cb, result, { authorization: 'Bearer forged' })).status).toBe(403);
    expect((await post(`${cb}?token=${tokenOf}`, { ...result, task_id: 'PT20260101000000abcdef0123' })).status).toBe(
      403,
    ); // unknown task
    expect((await post(cb, result, { 'x-rwc-signature': 'sha256=00' })).status).toBe(403); // bad signature
    expect((await post(`${cb}?token=${tokenOf}`, '{"task_id": ')).status).toBe(400); // not JSON
    // The task's frame is served to its credential only.
    expect((await fetch(task.image_url.replace(/token=[^&]+/, 'token=forged'))).status).toBe(403);
    expect((await fetch(task.image_url.split('?')[0]!)).status).toBe(401);

    // The right credential, as an HMAC over the exact body: accepted.
    const raw = JSON.stringify({
      ...result,
      result: {
        ...result.result,
        has_defect: true,
        confidence: 0.7,
        detections: [{ label: 'failure', confidence: 0.7, box: [1, 2, 3, 4] }],
      },
    });
    const sig = `sha256=${crypto.createHmac('sha256', tokenOf).update(raw).digest('hex')}`;
    const ok = await post(cb, raw, { 'x-rwc-signature': sig });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'success', message: 'Callback received and processed.' });
    expect((await pending).detections).toEqual([{ label: 'failure', confidence: 0.7, box: [1, 2, 3, 4] }]);

    // Replays with the same credential: refused, the task is finished.
    const replay = await post(`${cb}?token=${tokenOf}`, result);
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as { error: { code: string } }).error.code).toBe('task_finished');
    expect((await post(cb, raw, { 'x-rwc-signature': sig })).status).toBe(403);
    expect((await fetch(task.image_url)).status).toBe(403);
  });

  it("callbacks: one task's credential does not open another task", async () => {
    const seen: Array<{ task_id: string; callback_url: string }> = [];
    svc.handle((_q, body, res) => {
      seen.push(JSON.parse(body));
      json(res, 200, { status: 'accepted' });
    });
    const a = detector('cloud').detect({ jpeg: frame });
    const b = detector('cloud').detect({ jpeg: frame });
    a.catch(() => {});
    b.catch(() => {});
    await waitFor(() => seen.length === 2, 'two tasks');
    const [ta, tb] = seen;
    const res = await fetch(ta!.callback_url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task_id: tb!.task_id, status: 'success', result: { has_defect: false } }),
    });
    expect(res.status).toBe(403);
    await expect(a).rejects.toThrow(/no result/);
    await expect(b).rejects.toThrow(/no result/);
  });

  it('Obico ML API: bearer token, the image fetched by URL, centre boxes made top-left', async () => {
    svc.handle(async (req, _b, res) => {
      const u = new URL(req.url ?? '', 'http://x');
      expect(u.pathname).toBe('/p/');
      if (req.headers.authorization !== 'Bearer ml-token')
        return json(res, 401, { detections: [], message: 'bad token' });
      const img = await fetch(u.searchParams.get('img')!);
      const meta = await sharp(Buffer.from(await img.arrayBuffer())).metadata();
      json(res, 200, { detections: [['failure', 0.62, [meta.width! / 2, meta.height! / 2, 100, 50]]] });
    });
    const res = await detector('obico').detect({ jpeg: frame });
    expect(res).toEqual({
      model: 'obico-ml-api',
      detections: [{ label: 'failure', confidence: 0.62, box: [270, 155, 100, 50] }],
    });
  });

  it('Obico ML API: 4xx/5xx, garbage and slowness are clear errors', async () => {
    svc.handle((_q, _b, res) => json(res, 400, { detections: [], message: 'Failed to get image' }));
    await expect(detector('obico').detect({ jpeg: frame })).rejects.toThrow(/HTTP 400 \(Failed to get image\)/);
    svc.handle((_q, _b, res) => json(res, 500, 'Internal Server Error'));
    await expect(detector('obico').detect({ jpeg: frame })).rejects.toThrow(/HTTP 500/);
    svc.handle((_q, _b, res) => json(res, 200, '{"detections": [["failure", "high", [1,2,3]]]}'));
    await expect(detector('obico').detect({ jpeg: frame })).rejects.toThrow(/detection 0 is not/);
    svc.handle((_q, _b, res) => json(res, 200, '{"detect'));
    await expect(detector('obico').detect({ jpeg: frame })).rejects.toThrow(/not JSON/);
    svc.handle((_q, _b, res) => void setTimeout(() => json(res, 200, { detections: [] }), 3000));
    await expect(detector('obico').detect({ jpeg: frame })).rejects.toThrow(/no answer within 1 s/);
  });

  it('detector configuration: admin only, validated, secrets never returned', async () => {
    const bad = await api('POST', '/api/v1/ai/detectors', {
      name: 'x',
      kind: 'seed-service',
      config: { url: 'ftp://nope' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/config.url/);
    const kind = await api('POST', '/api/v1/ai/detectors', { name: 'y', kind: 'magic', config: {} });
    expect(kind.status).toBe(400);
    const list = await api('GET', '/api/v1/ai/detectors');
    expect(list.body.map((d: { name: string }) => d.name)).toEqual(
      expect.arrayContaining(['standin', 'cloud', 'obico']),
    );
    expect(JSON.stringify(list.body)).not.toContain('svc-secret');
    const key = await api('POST', '/api/v1/api-keys', { name: 'op', role: 'operator' });
    const asOperator = await s.api('POST', '/api/v1/ai/detectors', {
      apiKey: key.body.key,
      body: { name: 'z', kind: 'obico', config: { url: svc.url } },
    });
    expect(asOperator.status).toBe(403);
  });
});
