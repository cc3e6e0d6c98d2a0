import { afterEach, describe, expect, it } from 'vitest';
import { type Rig, bambuPrinter, startRig, waitFor } from './helpers.ts';

let rig: Rig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

describe('the server restarts while an agent printer prints a queue job', () => {
  it('picks the job up again from the agent once it is live, counts it once and starts nothing twice', async () => {
    rig = await startRig();
    const sim = await rig.bambuSim({ printSeconds: 2400 });
    const agent = await rig.startAgent([bambuPrinter('a1', sim)]);
    const printerId = await rig.fleetPrinter('a1');
    await rig.api('PATCH', `/api/v1/printers/${printerId}`, { settings: { nozzleDiameter: 0.4, swapCooldownSeconds: 1 } });
    await waitFor(async () => (await rig!.api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'idle', 'idle');
    const fileId = await rig.uploadFixture();
    await rig.api('POST', '/api/v1/queue', { fileId, copies: 1 });
    await waitFor(async () => {
      const s = (await rig!.api('GET', `/api/v1/printers/${printerId}`)).body.state;
      return s.status === 'printing' && !s.stale;
    }, 'printing');

    await rig.restartServer();
    // Right after the restart the job waits for the printer's first trustworthy report.
    const gate = (await rig.api('GET', `/api/v1/printers/${printerId}`)).body.state.gate;
    expect(gate.open).toBe(false);
    const item = await waitFor(async () => {
      const q = await rig!.api('GET', '/api/v1/queue');
      return q.body.items[0]?.status === 'done' && q.body.items[0];
    }, 'the copy counted after the restart', 30_000);
    expect(item.copiesDone).toBe(1);
    expect(sim.receivedCommands.filter((c: any) => c.print?.command === 'project_file')).toHaveLength(1);
    expect(agent.executor.log.filter((e) => e.kind === 'startJob')).toHaveLength(1);
  });
});
