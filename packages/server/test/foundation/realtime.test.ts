import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { raiseAlert } from '../../src/alerts/raise.ts';

function connect(url: string, opts: { protocols?: string[] } = {}): Promise<{ ws: WebSocket; messages: any[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols);
    const messages: any[] = [];
    ws.on('message', (m) => messages.push(JSON.parse(String(m))));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

async function until(check: () => boolean, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('event bus, event log and WebSocket hub', () => {
  let s: TestServer;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer();
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => s?.destroy());

  it('refuses a WebSocket without a valid token', async () => {
    const wsUrl = s.url.replace('http', 'ws');
    await expect(connect(`${wsUrl}/api/v1/ws`)).rejects.toThrow('HTTP 401');
    await expect(connect(`${wsUrl}/api/v1/ws?token=forged.token.here`)).rejects.toThrow('HTTP 401');
  });

  it('sends a snapshot first, then events as {type, data, at}', async () => {
    const { ws, messages } = await connect(`${s.url.replace('http', 'ws')}/api/v1/ws?token=${token}`);
    await until(() => messages.length >= 1, 'snapshot');
    expect(messages[0].type).toBe('snapshot');
    expect(Array.isArray(messages[0].data.printers)).toBe(true);
    raiseAlert(s.infra.bus, { code: 'test_alert', level: 'warning', printerId: null, message: 'hello farm' });
    await until(() => messages.length >= 2, 'alert');
    expect(messages[1]).toMatchObject({ type: 'alert', data: { level: 'warning', message: 'hello farm' } });
    expect(new Date(messages[1].at).toString()).not.toBe('Invalid Date');
    ws.close();
  });

  it('accepts the token as a WebSocket subprotocol', async () => {
    const { ws, messages } = await connect(`${s.url.replace('http', 'ws')}/api/v1/ws`, { protocols: ['rwc', token] });
    await until(() => messages.length >= 1, 'snapshot');
    expect(messages[0].type).toBe('snapshot');
    ws.close();
  });

  it('drops a client that does not read, and keeps serving the others', async () => {
    const wsUrl = `${s.url.replace('http', 'ws')}/api/v1/ws?token=${token}`;
    const slow = await connect(wsUrl);
    const fast = await connect(wsUrl);
    await until(() => slow.messages.length >= 1 && fast.messages.length >= 1, 'snapshots');
    // Stop reading from the socket: the server's send buffer fills up.
    (slow.ws as any)._socket.pause();
    let slowClosed = false;
    slow.ws.on('close', () => (slowClosed = true));
    const big = 'x'.repeat(16 * 1024);
    const started = Date.now();
    for (let i = 0; i < 2000 && !slowClosed; i++) {
      raiseAlert(s.infra.bus, { code: 'test_alert', level: 'info', printerId: null, message: `${i}:${big}` });
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const emitMs = Date.now() - started;
    (slow.ws as any)._socket.resume();
    await until(() => slowClosed, 'the slow client to be dropped', 10_000);
    await until(() => fast.messages.some((m) => m.data?.message?.startsWith('1999:') || m.data?.message?.startsWith('19')), 'fast client events', 10_000);
    expect(fast.ws.readyState).toBe(WebSocket.OPEN);
    expect(emitMs).toBeGreaterThanOrEqual(0);
    fast.ws.close();
  });

  it('logs events and filters them by printer and type', async () => {
    raiseAlert(s.infra.bus, { code: 'test_alert', level: 'error', printerId: 'p-1', message: 'nozzle clog' });
    raiseAlert(s.infra.bus, { code: 'test_alert', level: 'info', printerId: 'p-2', message: 'other printer' });
    s.infra.bus.emit('queue.changed', { reason: 'test' });
    const byPrinter = await s.api('GET', '/api/v1/events?printerId=p-1', { token });
    expect(byPrinter.status).toBe(200);
    expect(byPrinter.body).toHaveLength(1);
    expect(byPrinter.body[0]).toMatchObject({ type: 'alert', printerId: 'p-1', data: { message: 'nozzle clog' } });
    const byType = await s.api('GET', '/api/v1/events?type=queue.changed&limit=5', { token });
    expect(byType.body.map((e: any) => e.type)).toEqual(['queue.changed']);
    const limited = await s.api('GET', '/api/v1/events?limit=2', { token });
    expect(limited.body).toHaveLength(2);
    const bad = await s.api('GET', '/api/v1/events?limit=0', { token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('limit');
  });
});
