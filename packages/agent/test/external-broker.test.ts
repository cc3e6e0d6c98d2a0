import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type Rig, bambuPrinter, startRig, waitFor } from './helpers.ts';
import { type PrivateMosquitto, startMosquitto } from './mosquitto.ts';

let rig: Rig | null = null;
let mosquitto: PrivateMosquitto | null = null;
afterEach(async () => {
  await rig?.close();
  await mosquitto?.stop();
  rig = null;
  mosquitto = null;
});

describe('agents through an external Mosquitto (dynamic security, TLS)', () => {
  it('links over mqtts, prints a queue job, keeps the agent to its topics, and drops it when revoked', async () => {
    mosquitto = await startMosquitto({ tls: true });
    rig = await startRig({
      config: { mqttUrl: mosquitto.adminUrl, mqttDynsec: true },
      brokerPort: mosquitto.tlsPort!,
      brokerUrl: (port) => `mqtts://127.0.0.1:${port}`,
      caFile: mosquitto.caFile!,
    });
    expect(rig.server.broker).toBeNull();
    const created = await rig.api('GET', '/api/v1/agents');
    expect(created.body[0]).toMatchObject({ id: rig.agentId, online: false });

    const sim = await rig.bambuSim();
    const agent = await rig.startAgent([bambuPrinter('a1', sim)]);
    const printerId = await rig.fleetPrinter('a1');
    await waitFor(async () => {
      const s = (await rig!.api('GET', `/api/v1/printers/${printerId}`)).body.state;
      return s.status === 'idle' && !s.stale;
    }, 'agent printer idle and live');
    await rig.api('PATCH', `/api/v1/printers/${printerId}`, { settings: { nozzleDiameter: 0.4, swapCooldownSeconds: 1 } });
    const fileId = await rig.uploadFixture();
    await rig.api('POST', '/api/v1/queue', { fileId, copies: 1 });
    const done = await waitFor(async () => {
      const q = await rig!.api('GET', '/api/v1/queue');
      return q.body.items[0]?.status === 'done' && q.body.items[0];
    }, 'the copy printed through Mosquitto', 30_000);
    expect(done.copiesDone).toBe(1);

    // The broker keeps the agent's key to its own namespace.
    const probe = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosquitto.port}`, { username: rig.agentId, password: rig.agentKey, clientId: `rwc-agent-${rig.agentId}-x`, reconnectPeriod: 0 }).then(
      (c) => c,
      (err: Error & { code?: number }) => err,
    );
    // The account is bound to the agent's client id: another id is refused outright.
    expect(probe).toBeInstanceOf(Error);
    // Another agent's key reaches its own topics only.
    const other = await rig.api('POST', '/api/v1/agents', { name: 'site-b' });
    const b = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosquitto.port}`, { username: other.body.id, password: other.body.key, clientId: `rwc-agent-${other.body.id}`, reconnectPeriod: 0 });
    const granted: number[] = [];
    for (const filter of [`rwc/agents/${rig.agentId}/down/#`, `rwc/agents/${other.body.id}/down/#`, '#']) {
      granted.push(await b.subscribeAsync(filter, { qos: 1 }).then((g) => g[0]!.qos, () => 128));
    }
    await b.endAsync(true);
    expect(granted).toEqual([128, 1, 128]);

    const del = await rig.api('DELETE', `/api/v1/agents/${rig.agentId}`);
    expect(del.status).toBe(204);
    await waitFor(() => !agent.linked, 'the broker dropped the agent');
    await waitFor(() => agent.link?.refused === true, 'and refuses it');
    expect(mosquitto.log()).toMatch(/disconnected by administrative action/);
    expect(agent.printers.get('a1')!.state.status).not.toBe('offline');
  });
});
