import { afterEach, describe, expect, it } from 'vitest';
import { type Rig, bambuPrinter, startRig, waitFor } from './helpers.ts';

let rig: Rig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

describe('an edge agent linked over MQTT', () => {
  it('announces its printer, which joins the fleet and prints a queue job end to end', async () => {
    rig = await startRig();
    const sim = await rig.bambuSim();
    await rig.startAgent([bambuPrinter('a1', sim)]);
    const printerId = await rig.fleetPrinter('a1');
    const p = await waitFor(async () => {
      const r = await rig!.api('GET', `/api/v1/printers/${printerId}`);
      return r.body.state.status === 'idle' && !r.body.state.stale && r.body;
    }, 'agent printer idle in the fleet');
    expect(p).toMatchObject({ driver: 'agent', model: 'A1 mini', connection: { agentId: rig.agentId, printerId: 'a1', kind: 'bambu-test' } });
    const agents = await rig.api('GET', '/api/v1/agents');
    expect(agents.body[0]).toMatchObject({ id: rig.agentId, online: true, live: true, revoked: false, printers: [{ agentPrinterId: 'a1', printerId }] });

    await rig.api('PATCH', `/api/v1/printers/${printerId}`, { settings: { nozzleDiameter: 0.4, swapCooldownSeconds: 1 } });
    const fileId = await rig.uploadFixture();
    const added = await rig.api('POST', '/api/v1/queue', { fileId, copies: 1 });
    expect(added.status).toBe(201);
    const done = await waitFor(async () => {
      const q = await rig!.api('GET', '/api/v1/queue');
      return q.body.items[0]?.status === 'done' && q.body.items[0];
    }, 'the copy printed', 30_000);
    expect(done).toMatchObject({ copies: 1, copiesDone: 1 });
    // The printer got the file once (through the agent's cache) and one start with the queue's job id.
    const starts = sim.receivedCommands.filter((c: any) => c.print?.command === 'project_file');
    expect(starts).toHaveLength(1);
    const jobs = await rig.api('GET', '/api/v1/jobs');
    if (jobs.status === 200) expect(jobs.body.items.filter((j: any) => j.outcome === 'done')).toHaveLength(1);
    expect(rig.agent!.files.bytesFetched).toBeGreaterThan(0);
  });
});
