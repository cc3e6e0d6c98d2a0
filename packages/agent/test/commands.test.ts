import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { MarlinSimulator } from '@rwc/simulators/marlin/index.ts';
import { type Rig, bambuPrinter, startRig, waitFor } from './helpers.ts';

let rig: Rig | null = null;
let marlin: MarlinSimulator | null = null;
afterEach(async () => {
  await rig?.close();
  await marlin?.stop();
  rig = null;
  marlin = null;
});

/** Publishes as the server does (in-process on the embedded broker), and collects the agent's acks. */
function serverSide(rig: Rig) {
  const aedes = rig.server.broker!.aedes!;
  const acks: any[] = [];
  aedes.subscribe(
    `rwc/agents/${rig.agentId}/up/ack`,
    (p, cb) => {
      acks.push(JSON.parse(p.payload.toString()));
      cb();
    },
    () => undefined,
  );
  const publish = (name: string, payload: unknown, dup = false) =>
    new Promise<void>((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic: `rwc/agents/${rig.agentId}/down/${name}`, payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain: false, dup } as any, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  return { acks, publish };
}

/** Records the firmware's kill() calls (an M112 arriving ends in one). */
function spyOnKills(sim: MarlinSimulator): string[][] {
  const fw = sim.firmware!;
  const kills: string[][] = [];
  const kill = fw.kill.bind(fw);
  fw.kill = (lines: string[]) => {
    kills.push(lines);
    kill(lines);
  };
  return kills;
}

const gcodeLines = (sim: { receivedCommands: any[] }, text: string) =>
  sim.receivedCommands.filter((c) => c.print?.command === 'gcode_line' && String(c.print.param).includes(text));

describe('commands to an agent', () => {
  it('runs a command delivered twice (QoS 1 redelivery) once, and still once after the agent restarts', async () => {
    rig = await startRig();
    const sim = await rig.bambuSim();
    const printers = [bambuPrinter('a1', sim)];
    await rig.startAgent(printers);
    await waitFor(() => rig!.agent!.live, 'agent live');
    const { acks, publish } = serverSide(rig);
    const cmd = { id: 'dispatch-1', printerId: 'a1', kind: 'sendGcode', args: { lines: ['M117 dup-once'] }, createdAt: Date.now(), expiresAt: Date.now() + 60_000, deadlineSeconds: 30 };
    await publish('cmd', cmd);
    await publish('cmd', cmd, true);
    await waitFor(() => acks.length >= 2 && rig!.agent!.executor.log.length === 1, 'two acks, one run');
    expect(acks.map((a) => a.status)).toEqual(['accepted', 'duplicate']);
    await waitFor(() => gcodeLines(sim, 'dup-once').length === 1, 'the printer got the line');

    // A restart of the agent keeps the record: the same id is answered, not run.
    await rig.agent!.stop();
    const again = await rig.startAgent(printers);
    await waitFor(() => again.live, 'agent live again');
    await publish('cmd', cmd, true);
    await waitFor(() => acks.length === 3, 'third ack');
    expect(acks[2]).toMatchObject({ commandId: 'dispatch-1', status: 'duplicate', result: { ok: true, error: null } });
    await new Promise((r) => setTimeout(r, 300));
    expect(gcodeLines(sim, 'dup-once')).toHaveLength(1);
    expect(again.executor.log).toHaveLength(0);

    // An id never seen but past its expiry is refused, not run.
    await publish('cmd', { ...cmd, id: 'dispatch-2', expiresAt: Date.now() - 1000 });
    await waitFor(() => acks.length === 4, 'fourth ack');
    expect(acks[3]).toMatchObject({ commandId: 'dispatch-2', status: 'expired' });
    // A malformed one is rejected with its reason.
    await publish('cmd', { ...cmd, id: 'dispatch-3', kind: 'reboot' });
    await waitFor(() => acks.length === 5, 'fifth ack');
    expect(acks[4]).toMatchObject({ commandId: 'dispatch-3', status: 'rejected', error: { code: 'bad_command' } });
  });

  it('an e-stop sent while the agent is offline drops what was asked before it and is honoured on return', async () => {
    marlin = new MarlinSimulator({ timeScale: 1 });
    await marlin.start();
    rig = await startRig();
    const agent = await rig.startAgent([{ id: 'm1', name: 'Marlin 1', driver: 'marlin', connection: { url: marlin.url } }]);
    const printerId = await rig.fleetPrinter('m1');
    const status = async () => (await rig!.api('GET', `/api/v1/printers/${printerId}`)).body.state;
    await waitFor(async () => (await status()).status === 'idle', 'marlin idle');

    const kills = spyOnKills(marlin);
    rig.proxy.cut();
    await waitFor(async () => (await status()).stale, 'link down');
    const driver = rig.server.fleet.get(printerId)!.driver;
    const queued = driver.sendGcode(['M117 queued-before-estop']).then(
      () => 'ok',
      (e: Error & { code?: string }) => e.code,
    );
    await waitFor(() => rig!.server.agents.hub.outbox.openFor(rig!.agentId).length === 1, 'command pending');
    const estop = await rig.api('POST', `/api/v1/agents/${rig.agentId}/estop`, { printerId });
    expect(estop.status).toBe(202);
    expect(estop.body.message).toMatch(/offline/);
    // The command asked before the e-stop will never go out.
    expect(await queued).toBe('emergency_stop');
    rig.proxy.restore();
    await waitFor(() => agent.executor.log.length === 1, 'the e-stop ran');
    expect(agent.executor.log[0]).toMatchObject({ kind: 'estop', ok: true, printerId: 'm1' });
    await waitFor(() => kills.length === 1, 'the firmware got M112 and shut down');
    await new Promise((r) => setTimeout(r, 300));
    expect(agent.executor.log).toHaveLength(1);
    expect(marlin.firmware!.commandLog.some((c) => c.includes('queued-before-estop'))).toBe(false);
    // A late copy of a command made before the e-stop is refused by the agent as well.
    const aedes = rig.server.broker!.aedes!;
    const late = { id: 'late-1', printerId: 'm1', kind: 'sendGcode', args: { lines: ['M117 late'] }, createdAt: Date.now() - 60_000, expiresAt: Date.now() + 60_000, deadlineSeconds: 10 };
    aedes.publish({ cmd: 'publish', topic: `rwc/agents/${rig.agentId}/down/cmd`, payload: Buffer.from(JSON.stringify(late)), qos: 1, retain: false, dup: false } as any, () => undefined);
    await waitFor(() => agent.record.get('late-1')?.state === 'done', 'late command answered');
    expect(agent.record.get('late-1')).toMatchObject({ ok: false, error: { code: 'emergency_stop' } });
  });

  it('an e-stop overtakes a long command that is running on the printer', async () => {
    marlin = new MarlinSimulator({ timeScale: 1 });
    await marlin.start();
    rig = await startRig();
    const agent = await rig.startAgent([{ id: 'm1', name: 'Marlin 1', driver: 'marlin', connection: { url: marlin.url } }]);
    const printerId = await rig.fleetPrinter('m1');
    await waitFor(async () => (await rig!.api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'idle', 'marlin idle');
    // 200 dwells of 50 ms: ten seconds of work in the printer's line.
    const long = rig.server.fleet.get(printerId)!.driver.sendGcode(Array.from({ length: 200 }, () => 'G4 P50')).then(
      () => 'ok',
      (e: Error & { code?: string }) => e.code ?? e.message,
    );
    await waitFor(() => marlin!.firmware!.commandLog.filter((c) => c.startsWith('G4')).length >= 5, 'the dwells are running');
    const kills = spyOnKills(marlin);
    const t0 = Date.now();
    const estop = await rig.api('POST', `/api/v1/agents/${rig.agentId}/estop`, {});
    expect(estop.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await long).toBe('emergency_stop');
    expect(agent.executor.log.map((e) => e.kind)).toEqual(['estop', 'sendGcode']);
    expect(kills).toEqual([['echo:EMERGENCY SHUTDOWN DETECTED. KILLED.']]);
    expect(marlin.firmware!.commandLog.filter((c) => c.startsWith('G4')).length).toBeLessThan(200);
  });

  it('a revoked agent is disconnected at once and refused after, while its printers go on locally', async () => {
    rig = await startRig();
    const sim = await rig.bambuSim();
    const agent = await rig.startAgent([bambuPrinter('a1', sim)]);
    const printerId = await rig.fleetPrinter('a1');
    await waitFor(() => agent.live, 'agent live');
    const self = await rig.server.api('GET', '/api/v1/agents/self', { apiKey: rig.agentKey });
    expect(self).toMatchObject({ status: 200, body: { id: rig.agentId, name: 'site-a' } });
    // The agent key reaches nothing else on the HTTP API.
    for (const url of ['/api/v1/printers', '/api/v1/queue', '/api/v1/agents', '/api/v1/files']) {
      expect((await rig.server.api('GET', url, { apiKey: rig.agentKey })).status).toBe(403);
    }

    const del = await rig.api('DELETE', `/api/v1/agents/${rig.agentId}`);
    expect(del.status).toBe(204);
    await waitFor(() => !agent.linked, 'the agent lost its link');
    await waitFor(() => agent.link?.refused === true, 'its reconnect is refused');
    const raw = mqtt.connect(`mqtt://127.0.0.1:${rig.server.broker!.port}`, { username: rig.agentId, password: rig.agentKey, reconnectPeriod: 0, clientId: 'probe' });
    const refusal = await new Promise<Error & { code?: number }>((resolve) => raw.once('error', resolve));
    raw.end(true);
    expect([4, 5]).toContain(refusal.code);
    expect((await rig.server.api('GET', '/api/v1/agents/self', { apiKey: rig.agentKey })).status).toBe(401);
    const a = await rig.api('GET', `/api/v1/agents/${rig.agentId}`);
    expect(a.body).toMatchObject({ revoked: true, online: false });
    const p = await rig.api('GET', `/api/v1/printers/${printerId}`);
    expect(p.body.state).toMatchObject({ status: 'offline' });
    expect(p.body.state.connectionNote).toMatch(/revoked/);
    await expect(rig.server.fleet.get(printerId)!.driver.pause()).rejects.toMatchObject({ code: 'agent_revoked' });
    // The site's printer still runs under the agent.
    expect(agent.printers.get('a1')!.state.status).toBe('idle');
  });
});
