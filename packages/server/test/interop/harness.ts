/**
 * The real server over HTTP, with an admin token and a WebSocket event recorder, for driving a
 * stand-in printer the way a user would: add printer → upload → queue → start.
 */
import WebSocket from 'ws';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

export interface Harness {
  server: TestServer;
  events: Array<{ type: string; data: any }>;
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  addPrinter(body: Record<string, unknown>): Promise<string>;
  upload(name: string, text: string): Promise<string>;
  printer(id: string): Promise<any>;
  queue(): Promise<any>;
  alerts(printerId: string): Promise<any[]>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const server = await startTestServer();
  const { accessToken } = await setupAdmin(server);
  const api: Harness['api'] = (method, url, body) => server.api(method, url, { token: accessToken, body });
  const events: Harness['events'] = [];
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/ws?token=${accessToken}`);
  ws.on('message', (raw) => {
    const msg = JSON.parse(String(raw));
    if (msg && typeof msg.type === 'string' && 'data' in msg) events.push(msg);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    server,
    events,
    api,
    async addPrinter(body) {
      const res = await api('POST', '/api/v1/printers', { settings: { swapCooldownSeconds: 0, nozzleDiameter: 0.4 }, ...body });
      if (res.status !== 201) throw new Error(`adding printer failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    async upload(name, text) {
      const form = new FormData();
      form.append('file', new Blob([text]), name);
      const res = await server.api('POST', '/api/v1/files', { token: accessToken, body: form });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    printer: async (id) => (await api('GET', `/api/v1/printers/${id}`)).body,
    queue: async () => (await api('GET', '/api/v1/queue')).body,
    alerts: async (printerId) => (await api('GET', `/api/v1/events?type=alert&printerId=${printerId}`)).body,
    async close() {
      ws.terminate();
      await server.destroy();
    },
  };
}

export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A small Cura-style plain G-code: header comments, homing, heat-and-wait, `moves` moves, end. */
export function smallGcode(moves: number): { text: string; commands: string[] } {
  const lines = [';FLAVOR:Marlin', ';TIME:120', ';Filament used: 0.05m', ';Layer height: 0.2', '', 'M140 S0', 'M104 S0 ; no heat needed', 'G28 ; home', 'M109 S0', 'G90', 'M83', ';LAYER:0', 'G1 Z0.2 F3000'];
  for (let i = 0; i < moves; i++) lines.push(`G1 X${(50 + i * 0.5).toFixed(2)} Y${(60 + (i % 7)).toFixed(1)} E0.0${(i % 9) + 1} F1200`);
  lines.push('M400', 'M84', ';End of Gcode');
  const commands = lines.map((l) => l.split(';')[0].trim()).filter(Boolean);
  return { text: `${lines.join('\n')}\n`, commands };
}
