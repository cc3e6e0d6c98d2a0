import { afterEach, describe, expect, it } from 'vitest';
import { type E2E, projectFiles, startE2E, waitFor } from './e2e-helpers.ts';

let e: E2E | null = null;
afterEach(async () => {
  await e?.close();
  e = null;
});

describe('queue end to end: faults', () => {
  it('a printer error mid-print pauses the queue and raises an alert', async () => {
    e = await startE2E();
    const { id, sim } = await e.addPrinter('A1-01', {}, { timeScale: 20 });
    const fileId = await e.uploadFixture();
    await e.api('POST', '/api/v1/queue', { fileId, copies: 2 });
    await waitFor(() => e!.server.fleet.get(id)?.state.status === 'printing', 'printing');
    sim.injectError({ printError: 0x0300_8015 });
    const alert = await waitFor(
      () => e!.events.find((ev) => ev.type === 'alert' && (ev.data as any).code === 'queue_paused_printer_error'),
      'alert',
    );
    expect(alert.data).toMatchObject({ level: 'error', printerId: id });
    const q = await e.api('GET', '/api/v1/queue');
    expect(q.body.running).toBe(false);
    const p = await e.api('GET', `/api/v1/printers/${id}`);
    expect(p.body.state.gate.open).toBe(false);
    expect(projectFiles(sim)).toHaveLength(1);
    // Resuming is a user action.
    expect((await e.api('POST', '/api/v1/queue/start')).body).toEqual({ running: true });
  });

  it('a start that is never confirmed: alert, gate closed, never re-sent; adopted once the printer shows it', async () => {
    e = await startE2E();
    const { id, sim } = await e.addPrinter('A1-01', {}, { timeScale: 200 });
    sim.on('command', (c: any) => {
      if (c.print?.command === 'project_file') sim.setSilent(true);
    });
    const fileId = await e.uploadFixture();
    const item = (await e.api('POST', '/api/v1/queue', { fileId })).body;
    const alert = await waitFor(
      () => e!.events.find((ev) => ev.type === 'alert' && (ev.data as any).code === 'start_not_confirmed'),
      'alert',
    );
    expect(alert.data).toMatchObject({ level: 'error', printerId: id });
    const p = await e.api('GET', `/api/v1/printers/${id}`);
    expect(p.body.state.gate).toEqual({
      open: false,
      code: 'start_not_confirmed',
      reason: 'start not confirmed — check the printer',
      params: {},
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(projectFiles(sim)).toHaveLength(1);
    // Reports come back: the printer did start it, so the queue follows it to the end.
    sim.setSilent(false);
    sim.pushFullReport();
    await waitFor(async () => (await e!.api('GET', '/api/v1/queue')).body.items[0]?.status === 'done', 'done', 20_000);
    expect(projectFiles(sim)).toHaveLength(1);
    const q = await e.api('GET', '/api/v1/queue');
    expect(q.body.items[0]).toMatchObject({ id: item.id, copiesDone: 1 });
  });
});
