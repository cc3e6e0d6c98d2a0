import { randomBytes } from 'node:crypto';
import net from 'node:net';
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
    // The slow client is a bare socket that completes the WebSocket handshake and then never reads
    // again (the ws library resumes a paused socket by itself, so it cannot play this part).
    const port = Number(new URL(s.url).port);
    const slow = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      slow.once('error', reject);
      slow.write(
        `GET /api/v1/ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${Buffer.from('0123456789abcdef').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      slow.once('data', (chunk) => {
        slow.pause();
        if (/^HTTP\/1\.1 101/.test(String(chunk))) resolve();
        else reject(new Error(`handshake: ${String(chunk).slice(0, 80)}`));
      });
    });
    let slowClosed = false;
    let slowBytes = 0;
    slow.on('data', (chunk: Buffer) => (slowBytes += chunk.length));
    slow.on('close', () => (slowClosed = true));
    const fast = await connect(wsUrl);
    await until(() => fast.messages.length >= 1, 'snapshot');
    // 64 KiB incompressible events, 1000 of them (64 MiB): more than the paused reader's kernel
    // buffers can hold (Linux lets a loopback receive window grow to 32 MiB) plus the 4 MiB limit.
    const big = randomBytes(48 * 1024).toString('base64');
    const total = 1000;
    let fastCount = 0;
    fast.ws.removeAllListeners('message');
    fast.ws.on('message', (m) => {
      if (String(m).includes(big)) fastCount++;
    });
    for (let i = 0; i < total; i++) {
      raiseAlert(s.infra.bus, { code: 'test_alert', level: 'info', printerId: null, message: `${i}:${big}` });
      // Pace the burst to the reading client, so a loaded machine cannot make it look slow.
      if (i % 20 === 19) await until(() => fastCount > i, 'the fast client to keep up', 20_000);
    }
    // A paused socket does not see its end; reading again shows what the server sent before it cut it.
    slow.resume();
    await until(() => slowClosed, 'the slow client to be dropped', 20_000);
    await until(() => fastCount >= total, 'fast client events', 20_000);
    expect(slowBytes).toBeLessThan(total * big.length);
    expect(fast.ws.readyState).toBe(WebSocket.OPEN);
    fast.ws.close();
    slow.destroy();
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
