import { afterEach, describe, expect, it } from 'vitest';
import type { DomainEvent } from '@rwc/server/events/bus.ts';
import { type Rig, bambuPrinter, startRig, waitFor } from './helpers.ts';

let rig: Rig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

const gcodeLines = (sim: { receivedCommands: any[] }, text: string) =>
  sim.receivedCommands.filter((c) => c.print?.command === 'gcode_line' && String(c.print.param).includes(text));

async function printerStatus(rig: Rig, id: string) {
  return (await rig.api('GET', `/api/v1/printers/${id}`)).body.state as { status: string; stale: boolean; connectionNote: string | null };
}

describe('the agent while its link is down', () => {
  it('finishes the print it was given, replays the events in order on return, and the copy counts once', async () => {
    rig = await startRig();
    const sim = await rig.bambuSim({ printSeconds: 2400 });
    const agent = await rig.startAgent([bambuPrinter('a1', sim)]);
    const printerId = await rig.fleetPrinter('a1');
    await rig.api('PATCH', `/api/v1/printers/${printerId}`, { settings: { nozzleDiameter: 0.4, swapCooldownSeconds: 1 } });
    await waitFor(async () => (await printerStatus(rig!, printerId)).status === 'idle', 'idle');
    const fileId = await rig.uploadFixture();
    await rig.api('POST', '/api/v1/queue', { fileId, copies: 1 });
    await waitFor(async () => {
      const s = await printerStatus(rig!, printerId);
      return s.status === 'printing' && !s.stale;
    }, 'printing, seen live by the server');

    rig.proxy.cut();
    const down = await waitFor(async () => {
      const s = await printerStatus(rig!, printerId);
      return s.status === 'unknown' && s.stale && s;
    }, 'the server sees the link down');
    expect(down.connectionNote).toMatch(/offline/);
    const gate = (await rig.api('GET', `/api/v1/printers/${printerId}`)).body.state.gate;
    expect(gate.open).toBe(false);

    // The print ends on the site while the server cannot see it.
    await waitFor(() => sim.status.gcode_state === 'FINISH', 'the simulator finished the print', 30_000);
    await waitFor(() => agent.printers.get('a1')!.state.lastJob !== null, 'the agent saw the end');
    const q1 = await rig.api('GET', '/api/v1/queue');
    expect(q1.body.items[0]).toMatchObject({ status: 'printing', copiesDone: 0 });
    expect(agent.journal.size).toBeGreaterThan(0);
    const pendingSeq = agent.journal.lastSeq;

    const seen: Array<{ status: string; stale: boolean; ended: string | null }> = [];
    const finishedEvents: DomainEvent[] = [];
    rig.server.infra.bus.on('printer.state', seen, ({ printerId: id, state }) => {
      if (id === printerId) seen.push({ status: state.status, stale: state.stale, ended: state.lastJob?.jobId ?? null });
    });
    rig.server.infra.bus.on('job.finished', finishedEvents, (_d, e) => finishedEvents.push(e));
    rig.proxy.restore();

    const item = await waitFor(async () => {
      const q = await rig!.api('GET', '/api/v1/queue');
      return q.body.items[0]?.status === 'done' && q.body.items[0];
    }, 'the copy counted after the replay', 30_000);
    expect(item).toMatchObject({ copies: 1, copiesDone: 1 });
    await waitFor(async () => !(await printerStatus(rig!, printerId)).stale, 'live again');
    // Replayed history first (stale: it never opens a gate), then the live state.
    const jobId = agent.printers.get('a1')!.state.lastJob!.jobId;
    const firstLive = seen.findIndex((s) => !s.stale && s.status !== 'unknown');
    const replayedFinish = seen.findIndex((s) => s.stale && s.ended === jobId);
    expect(replayedFinish).toBeGreaterThanOrEqual(0);
    expect(replayedFinish).toBeLessThan(firstLive);
    expect(finishedEvents).toHaveLength(1);
    // Applied in full, acknowledged, trimmed; the printer got exactly one start.
    const a = await rig.api('GET', `/api/v1/agents/${rig.agentId}`);
    expect(a.body.appliedSeq).toBeGreaterThanOrEqual(pendingSeq);
    await waitFor(() => agent.journal.size === 0, 'journal trimmed after the acks');
    expect(sim.receivedCommands.filter((c: any) => c.print?.command === 'project_file')).toHaveLength(1);
  });

  it('delivers a command sent while it was offline once, when it returns', async () => {
    rig = await startRig();
    const sim = await rig.bambuSim();
    const agent = await rig.startAgent([bambuPrinter('a1', sim)]);
    const printerId = await rig.fleetPrinter('a1');
    await waitFor(async () => (await printerStatus(rig!, printerId)).status === 'idle', 'idle');
    rig.proxy.cut();
    await waitFor(async () => (await printerStatus(rig!, printerId)).stale, 'the server sees the link down');

    const driver = rig.server.fleet.get(printerId)!.driver;
    let settled: 'ok' | Error | null = null;
    const sent = driver.sendGcode(['M117 while-offline']).then(
      () => (settled = 'ok'),
      (err: Error) => (settled = err),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(settled).toBeNull();
    expect(gcodeLines(sim, 'while-offline')).toHaveLength(0);
    const open = rig.server.agents.hub.outbox.openFor(rig.agentId);
    expect(open).toMatchObject([{ kind: 'sendGcode', status: 'pending' }]);

    rig.proxy.restore();
    await sent;
    expect(settled).toBe('ok');
    expect(gcodeLines(sim, 'while-offline')).toHaveLength(1);
    // Another drop and return: nothing is delivered again.
    rig.proxy.cut();
    await waitFor(() => !agent.linked, 'agent sees the drop');
    rig.proxy.restore();
    await waitFor(async () => agent.live && !(await printerStatus(rig!, printerId)).stale, 'live again');
    await new Promise((r) => setTimeout(r, 500));
    expect(gcodeLines(sim, 'while-offline')).toHaveLength(1);
    expect(agent.executor.log.filter((e) => e.kind === 'sendGcode')).toHaveLength(1);
  });

  it('fails a command whose TTL ran out while the agent was offline, with a clear error, and never runs it', async () => {
    rig = await startRig({ config: { agentCommandTtlSeconds: 5 } });
    const sim = await rig.bambuSim();
    const agent = await rig.startAgent([bambuPrinter('a1', sim)]);
    const printerId = await rig.fleetPrinter('a1');
    await waitFor(async () => (await printerStatus(rig!, printerId)).status === 'idle', 'idle');
    rig.proxy.cut();
    await waitFor(async () => (await printerStatus(rig!, printerId)).stale, 'the server sees the link down');

    const t0 = Date.now();
    const err = await rig.server.fleet.get(printerId)!.driver.sendGcode(['M117 too-late']).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4000);
    expect(err).toMatchObject({ code: 'command_expired' });
    expect(err!.message).toMatch(/was not delivered: agent "site-a" was offline for the whole command TTL \(5 s\)/);

    rig.proxy.restore();
    await waitFor(async () => agent.live && !(await printerStatus(rig!, printerId)).stale, 'live again');
    await new Promise((r) => setTimeout(r, 500));
    expect(gcodeLines(sim, 'too-late')).toHaveLength(0);
    expect(agent.executor.log).toHaveLength(0);
    const row = await rig.server.infra.storage.db.selectFrom('agent_commands').selectAll().executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'expired', error_code: 'command_expired', sent_at: null });
  });
});
