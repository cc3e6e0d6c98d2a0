/**
 * A PostgreSQL outage answers 503 with a code, and the server recovers by itself (issue 15). The
 * server reaches the database through a TCP proxy this test controls: closing it (and cutting its
 * connections) is the outage, listening again on the same port is the recovery.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempDatabase } from '../helpers/pg.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

class TcpProxy {
  #server: net.Server | null = null;
  #sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}
  async start(port = 0): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    this.#server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  }
}

describe('database outage (PostgreSQL)', () => {
  let s: TestServer;
  let proxy: TcpProxy;
  let drop: () => Promise<void>;
  let token: string;
  let apiKey: string;

  beforeAll(async () => {
    const db = await createTempDatabase();
    drop = db.drop;
    const url = new URL(db.url);
    proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    await proxy.start();
    url.port = String(proxy.port);
    s = await startTestServer({ databaseUrl: url.toString(), dropDb: async () => undefined });
    token = (await setupAdmin(s)).accessToken;
    apiKey = (await s.api('POST', '/api/v1/api-keys', { token, body: { name: 'k', role: 'operator' } })).body.key;
  });
  afterAll(async () => {
    await proxy?.cut();
    await s?.destroy();
    await drop?.();
  });

  it('answers 503 database_unavailable while the database is gone, and works again once it is back', async () => {
    expect((await s.api('GET', '/api/v1/printers', { token })).status).toBe(200);
    await proxy.cut();
    for (const req of [
      () => s.api('GET', '/api/v1/printers', { token }),
      () => s.api('GET', '/api/v1/printers', { apiKey }),
      () => s.api('GET', '/api/v1/queue', { token }),
      () => s.api('POST', '/api/v1/users', { token, body: { username: 'during', password: 'during-outage', role: 'viewer' } }),
      () => s.api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'correct-horse-battery' } }),
    ]) {
      const res = await req();
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('database_unavailable');
      expect(res.headers.get('retry-after')).toBeTruthy();
    }
    // The process keeps running and answers what needs no database.
    expect((await s.api('GET', '/api/v1/health')).status).toBe(200);
    await proxy.start(proxy.port);
    await waitFor(async () => (await s.api('GET', '/api/v1/printers', { token })).status === 200, 'the server to recover', 30_000);
    expect((await s.api('POST', '/api/v1/users', { token, body: { username: 'after', password: 'after-outage', role: 'viewer' } })).status).toBe(201);
  });
});
