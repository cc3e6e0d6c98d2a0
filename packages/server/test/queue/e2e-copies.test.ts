import { afterEach, describe, expect, it } from 'vitest';
import { type E2E, projectFiles, startE2E, waitFor } from './e2e-helpers.ts';

let e: E2E | null = null;
afterEach(async () => {
  await e?.close();
  e = null;
});

describe('queue end to end over the Bambu simulator', () => {
  it('prints 3 copies from one upload, one after another, with the plate-swap cooldown between them', async () => {
    e = await startE2E();
    const { id, sim } = await e.addPrinter('A1-01', { swapCooldownSeconds: 1 }, { timeScale: 1000 });
    const finishedAt: number[] = [];
    const startedAt: number[] = [];
    sim.on('state', (s: { state: string }) => {
      if (s.state === 'FINISH') finishedAt.push(Date.now());
    });
    sim.on('command', (c: any) => {
      if (c.print?.command === 'project_file') startedAt.push(Date.now());
    });
    const fileId = await e.uploadFixture();
    const added = await e.api('POST', '/api/v1/queue', { fileId, copies: 3 });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({
      copies: 3,
      status: 'waiting',
      overrides: { bedLeveling: true, flowCalibration: true, timelapse: false },
    });
    const done = await waitFor(
      async () => {
        const q = await e!.api('GET', '/api/v1/queue');
        return q.body.items[0]?.status === 'done' && q.body;
      },
      'three copies done',
      25_000,
    );
    expect(done.items[0]).toMatchObject({ copiesDone: 3, copies: 3 });
    expect(done.remainingSeconds).toBe(0);
    // Three distinct job ids, each started once; the file was uploaded once and reused.
    const sent = projectFiles(sim);
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((c) => c.print.subtask_id)).size).toBe(3);
    expect(sent[0].print).toMatchObject({ bed_leveling: true, flow_cali: true, timelapse: false });
    expect(sim.files().filter((f) => f.name.endsWith('.3mf'))).toHaveLength(1);
    // The next copy never went out before the cooldown after the previous FINISH.
    expect(startedAt).toHaveLength(3);
    for (let k = 1; k < 3; k++) expect(startedAt[k]! - finishedAt[k - 1]!).toBeGreaterThanOrEqual(950);
    const finished = e.events.filter((ev) => ev.type === 'job.finished');
    expect(finished).toHaveLength(3);
    const openapi = await e.server.api('GET', '/api/v1/openapi.json');
    for (const route of [
      '/api/v1/queue',
      '/api/v1/queue/{id}',
      '/api/v1/queue/reorder',
      '/api/v1/printers/{id}/plate-cleared',
    ]) {
      expect(Object.keys(openapi.body.paths)).toContain(route);
    }
    const printer = await e.api('GET', `/api/v1/printers/${id}`);
    expect(printer.body.state.gate).toMatchObject({ open: expect.any(Boolean) });
  });

  it('two printers share one queue: copies print on both at once', async () => {
    e = await startE2E();
    const a = await e.addPrinter('A1-01', { swapCooldownSeconds: 1 }, { timeScale: 300 });
    const b = await e.addPrinter('A1-02', { swapCooldownSeconds: 1 }, { timeScale: 300 });
    const fileId = await e.uploadFixture();
    await e.api('POST', '/api/v1/queue', { fileId, copies: 2 });
    const busy = await waitFor(async () => {
      const q = await e!.api('GET', '/api/v1/queue');
      return q.body.items[0]?.activePrinterIds.length === 2 && q.body;
    }, 'both printers busy');
    expect(busy.items[0].activePrinterIds.sort()).toEqual([a.id, b.id].sort());
    const pa = await waitFor(async () => {
      const r = await e!.api('GET', `/api/v1/printers/${a.id}`);
      return r.body.state.job && r;
    }, 'printer A shows its job');
    expect(pa.body.state.job.queueItemId).toBe(busy.items[0].id);
    expect(pa.body.state.gate.open).toBe(false);
    await waitFor(async () => (await e!.api('GET', '/api/v1/queue')).body.items[0]?.status === 'done', 'done', 20_000);
    expect(projectFiles(a.sim)).toHaveLength(1);
    expect(projectFiles(b.sim)).toHaveLength(1);
  });
});
