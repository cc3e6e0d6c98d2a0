import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MoonrakerSimulator } from '../../src/moonraker/index.ts';

let sims: MoonrakerSimulator[] = [];
afterEach(async () => {
  for (const s of sims) await s.stop();
  sims = [];
});
async function start(opts: ConstructorParameters<typeof MoonrakerSimulator>[0] = {}) {
  const sim = new MoonrakerSimulator(opts);
  await sim.start();
  sims.push(sim);
  return sim;
}

async function rpcClient(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  const notes: Array<{ method: string; params: any[] }> = [];
  const pending = new Map<number, (m: any) => void>();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.method) notes.push(m);
    else pending.get(m.id)?.(m);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  let id = 1;
  const call = (method: string, params?: unknown) =>
    new Promise<any>((resolve) => {
      const n = id++;
      pending.set(n, resolve);
      ws.send(JSON.stringify({ jsonrpc: '2.0', method, params, id: n }));
    });
  return { ws, notes, call };
}

async function upload(sim: MoonrakerSimulator, name: string, content: string, fields: Record<string, string> = {}, key?: string) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([content]), name);
  return fetch(`${sim.url}/server/files/upload`, { method: 'POST', body: form, headers: key ? { 'X-Api-Key': key } : {} });
}

const wait = async (pred: () => boolean, ms = 5000) => {
  const t = Date.now();
  while (!pred()) {
    if (Date.now() - t > ms) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('MoonrakerSimulator', () => {
  it('checks the API key on HTTP and websocket; oneshot tokens are single use', async () => {
    const sim = await start({ apiKey: 'key' });
    expect((await fetch(`${sim.url}/server/info`)).status).toBe(401);
    expect((await fetch(`${sim.url}/server/info`, { headers: { 'X-Api-Key': 'key' } })).status).toBe(200);
    const ws = sim.url.replace('http', 'ws');
    await expect(rpcClient(`${ws}/websocket`)).rejects.toThrow('401');
    const tokenRes = await fetch(`${sim.url}/access/oneshot_token`, { headers: { 'X-Api-Key': 'key' } });
    const token = ((await tokenRes.json()) as any).result as string;
    expect(token).toMatch(/^[A-Z0-9]{32}$/);
    const c = await rpcClient(`${ws}/websocket?token=${token}`);
    expect((await c.call('server.info')).result.klippy_state).toBe('ready');
    c.ws.close();
    await expect(rpcClient(`${ws}/websocket?token=${token}`)).rejects.toThrow('401');
  });

  it('upload: multipart fields, 201 with Location, checksum 422, extension check', async () => {
    const sim = await start();
    const content = 'G28\nG1 X10\n';
    const sha = crypto.createHash('sha256').update(content).digest('hex');
    const res = await upload(sim, 'a.gcode', content, { root: 'gcodes', path: 'sub', checksum: sha });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/server/files/gcodes/sub/a.gcode');
    expect(((await res.json()) as any).result).toMatchObject({ item: { path: 'sub/a.gcode', root: 'gcodes', size: content.length }, print_started: false, action: 'create_file' });
    expect((await upload(sim, 'b.gcode', content, { checksum: '0'.repeat(64) })).status).toBe(422);
    expect((await upload(sim, 'c.stl', content)).status).toBe(400);
    const started = await upload(sim, 'd.gcode', content, { print: 'true' });
    expect(((await started.json()) as any).result.print_started).toBe(true);
    expect(sim.klippy.printState).toBe('printing');
  });

  it('subscribe returns full state; notify_status_update carries only deltas through the print states', async () => {
    const sim = await start({ timeScale: 0.05, printSeconds: 1000 });
    await upload(sim, 'p.gcode', 'G28\n');
    const c = await rpcClient(`${sim.url.replace('http', 'ws')}/websocket`);
    const sub = await c.call('printer.objects.subscribe', { objects: { print_stats: null, virtual_sdcard: ['progress'], webhooks: null } });
    expect(sub.result.status.print_stats.state).toBe('standby');
    expect(Object.keys(sub.result.status.virtual_sdcard)).toEqual(['progress']);
    expect((await c.call('printer.print.start', { filename: 'p.gcode' })).result).toBe('ok');
    await wait(() => c.notes.some((n) => n.params[0]?.print_stats?.state === 'printing'));
    await c.call('printer.print.pause');
    await wait(() => c.notes.some((n) => n.params[0]?.print_stats?.state === 'paused'));
    await c.call('printer.print.resume');
    await wait(() => c.notes.filter((n) => n.params[0]?.print_stats?.state === 'printing').length === 2);
    sim.finishPrint();
    await wait(() => c.notes.some((n) => n.params[0]?.print_stats?.state === 'complete'));
    const updates = c.notes.filter((n) => n.method === 'notify_status_update');
    expect(updates.every((n) => typeof n.params[1] === 'number')).toBe(true);
    expect(updates.some((n) => n.params[0].virtual_sdcard && 'is_active' in n.params[0].virtual_sdcard)).toBe(false);
    const states = updates.map((n) => n.params[0].print_stats?.state).filter(Boolean);
    expect(states).toEqual(['printing', 'paused', 'printing', 'complete']);
    expect((await c.call('printer.print.start', { filename: 'missing.gcode' })).error.code).toBe(400);
    expect((await c.call('no.such.method')).error.code).toBe(-32601);
  });

  it('klippy shutdown: notification, webhooks state, running print errors; restart recovers', async () => {
    const sim = await start({ printSeconds: 1000 });
    await upload(sim, 'p.gcode', 'G28\n', { print: 'true' });
    const c = await rpcClient(`${sim.url.replace('http', 'ws')}/websocket`);
    await c.call('printer.objects.subscribe', { objects: { print_stats: null, webhooks: null } });
    sim.shutdown('MCU shutdown');
    await wait(() => c.notes.some((n) => n.method === 'notify_klippy_shutdown'));
    expect((await c.call('server.info')).result.klippy_state).toBe('shutdown');
    expect(sim.klippy.objects.print_stats).toMatchObject({ state: 'error', message: 'MCU shutdown' });
    expect((await c.call('printer.print.start', { filename: 'p.gcode' })).error.message).toMatch(/not ready/);
    await c.call('printer.firmware_restart');
    expect(sim.klippy.state).toBe('ready');
    sim.dropConnections();
    await new Promise((r) => c.ws.once('close', r));
  });
});
