/**
 * A printer driver from a plugin, used by the server exactly like a built-in one: a printer added
 * through the API with the plugin's driver prints a queue job on a stand-in printer (its own HTTP
 * protocol over loopback), end to end through the queue; the driver plugin crashing mid-print
 * shows the printer offline (never idle), and after the restart the job is followed to its end.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { AcmePrinter } from './acme-printer.ts';
import { type PluginServer, startPluginServer } from './helpers.ts';

const GCODE = `;TIME:20\nG28\n${'G1 X1 Y1\n'.repeat(100)}`;

describe('a plugin printer driver', () => {
  let s: PluginServer;
  let acme: AcmePrinter;
  let url: string;
  let printerId: string;
  const token = 'acme-secret-token';

  beforeAll(async () => {
    acme = new AcmePrinter({ token, printSeconds: 6 });
    url = await acme.start();
    s = await startPluginServer(['acme-driver']);
    await s.waitState('acme-driver', 'running');
  });
  afterAll(async () => {
    await s?.close();
    await acme?.stop();
  });

  const printer = async () => (await s.api('GET', `/api/v1/printers/${printerId}`)).body;
  const queueItem = async (id: string) => (await s.api('GET', '/api/v1/queue')).body.items.find((i: { id: string }) => i.id === id);

  it('registers the driver with its connection schema and secret fields', async () => {
    expect((await s.state('acme-driver')).printerDrivers).toEqual(['acme-http']);
    expect(s.server.infra.registry.list('printer-driver').find((e) => e.name === 'acme-http')?.provider).toBe('plugin:acme-driver');
    const bad = await s.api('POST', '/api/v1/printers', { name: 'Acme', driver: 'acme-http', connection: { url: 'ftp://nope', token } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^connection\.url/);
    const missing = await s.api('POST', '/api/v1/printers', { name: 'Acme', driver: 'acme-http', connection: { url } });
    expect(missing.body.error.message).toBe('connection.token: is required');
    const ok = await s.api('POST', '/api/v1/printers', { name: 'Acme-01', driver: 'acme-http', connection: { url, token }, settings: { swapCooldownSeconds: 0 } });
    expect(ok.status).toBe(201);
    printerId = ok.body.id;
    expect(JSON.stringify(ok.body)).not.toContain(token);
    const row = await s.server.infra.storage.db.selectFrom('printers').select('connection_json').where('id', '=', printerId).executeTakeFirstOrThrow();
    expect(row.connection_json).not.toContain(token);
    await waitFor(async () => (await printer()).state.status === 'idle', 'the Acme printer to be idle');
  });

  it('prints a queue job end to end', async () => {
    const form = new FormData();
    form.append('file', new Blob([GCODE]), 'acme-cube.gcode');
    const up = await s.server.api('POST', '/api/v1/files', { token: s.token, body: form });
    expect(up.status).toBe(201);
    const item = await s.api('POST', '/api/v1/queue', { fileId: up.body.id, printerIds: [printerId] });
    expect(item.status).toBe(201);
    await s.api('POST', '/api/v1/queue/start');
    await waitFor(async () => (await printer()).state.status === 'printing', 'printing');
    expect(acme.prints).toHaveLength(1);
    expect(acme.files.get('acme-cube.gcode')?.toString()).toBe(GCODE);
    const p = await printer();
    expect(p.state.job.queueItemId).toBe(item.body.id);
    await waitFor(async () => (await queueItem(item.body.id))?.status === 'done', 'the queue item to be done', 30_000);
    const jobs = await s.api('GET', '/api/v1/events?type=job.finished');
    expect(jobs.body[0].data).toMatchObject({ printerId, queueItemId: item.body.id, fileName: 'acme-cube.gcode' });
    expect(acme.prints).toHaveLength(1);
  });

  it('a crash of the driver plugin mid-print: offline (never idle), then the job is followed to its end', async () => {
    const form = new FormData();
    form.append('file', new Blob([`${GCODE};second\n`]), 'acme-second.gcode');
    const up = await s.server.api('POST', '/api/v1/files', { token: s.token, body: form });
    const item = await s.api('POST', '/api/v1/queue', { fileId: up.body.id, printerIds: [printerId] });
    await waitFor(async () => (await printer()).state.status === 'printing' && acme.prints.length === 2, 'the second print');
    const before = await s.state('acme-driver');
    process.kill(before.health.pid, 'SIGKILL');
    await waitFor(async () => (await printer()).state.status === 'offline', 'the printer to read offline while its driver is down');
    expect((await printer()).state.status).not.toBe('idle');
    await s.waitState('acme-driver', 'running');
    await waitFor(async () => ['printing', 'finished'].includes((await printer()).state.status), 'the printer back');
    await waitFor(async () => (await queueItem(item.body.id))?.status === 'done', 'the second item to be done', 30_000);
    // The job was never sent twice.
    expect(acme.prints).toHaveLength(2);
    expect((await s.api('GET', '/api/v1/health')).status).toBe(200);
  }, 90_000);

  it('pause, resume and cancel go through the plugin', async () => {
    const form = new FormData();
    form.append('file', new Blob([`${GCODE};third\n`]), 'acme-third.gcode');
    const up = await s.server.api('POST', '/api/v1/files', { token: s.token, body: form });
    await s.api('POST', '/api/v1/queue', { fileId: up.body.id, printerIds: [printerId] });
    await waitFor(async () => (await printer()).state.status === 'printing' && acme.prints.length === 3, 'the third print');
    expect((await s.api('POST', `/api/v1/printers/${printerId}/control`, { command: 'pause' })).status).toBe(202);
    await waitFor(async () => acme.state === 'paused' && (await printer()).state.status === 'paused', 'paused');
    expect((await s.api('POST', `/api/v1/printers/${printerId}/control`, { command: 'resume' })).status).toBe(202);
    await waitFor(() => acme.state === 'printing', 'resumed');
    expect((await s.api('POST', `/api/v1/printers/${printerId}/control`, { command: 'cancel' })).status).toBe(202);
    await waitFor(() => acme.state === 'idle', 'cancelled');
  }, 60_000);

  it('reload with changed code keeps the printer working', async () => {
    const file = path.join(s.dir, 'acme-driver', 'index.ts');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace("ping: async () => 'pong'", "ping: async () => 'pong 2'"));
    await s.api('POST', '/api/v1/plugins/acme-driver/reload');
    await s.waitState('acme-driver', 'running');
    await waitFor(async () => ['idle', 'finished'].includes((await printer()).state.status), 'the printer back after the reload');
    const r = await s.waitRun((await s.api('POST', '/api/v1/plugins/acme-driver/entries/ping', {})).body.runId);
    expect(r.result).toBe('pong 2');
  });
});
