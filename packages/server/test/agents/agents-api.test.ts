/**
 * The agents API and the server's end of the link, spoken to by a raw MQTT client holding an agent
 * key (the protocol as documented in docs/agent-protocol.md), against the real embedded broker.
 */
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { initialPrinterState } from '../../src/printers/model.ts';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

let server: TestServer | null = null;
let client: MqttClient | null = null;
afterEach(async () => {
  await client?.endAsync(true);
  await server?.destroy();
  client = null;
  server = null;
});

async function rawAgent(s: TestServer, id: string, key: string) {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${s.broker!.port}`, { clientId: `rwc-agent-${id}`, username: id, password: key, reconnectPeriod: 0 });
  const got: Array<{ name: string; msg: any }> = [];
  c.on('message', (topic, payload) => got.push({ name: topic.split('/').pop()!, msg: JSON.parse(payload.toString()) }));
  await c.subscribeAsync(`rwc/agents/${id}/down/#`, { qos: 1 });
  const send = (name: string, msg: unknown, qos: 0 | 1 = 1) => c.publishAsync(`rwc/agents/${id}/up/${name}`, JSON.stringify(msg), { qos });
  return { c, got, send };
}

const printerState = (status: string, extra = {}) => ({ ...initialPrinterState(), status, fullStatus: true, updatedAt: Date.now(), ...extra });

describe('agents API', () => {
  it('issues agent keys to admins only, lists agents and refuses bad input', async () => {
    server = await startTestServer();
    const { accessToken } = await setupAdmin(server);
    const api = (m: string, u: string, body?: unknown, token = accessToken) => server!.api(m, u, { token, body });
    expect((await api('POST', '/api/v1/agents', { name: '' })).status).toBe(400);
    expect((await api('POST', '/api/v1/agents', { name: 'x', role: 'admin' })).status).toBe(400);
    const created = await api('POST', '/api/v1/agents', { name: 'site-a' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'site-a', role: 'agent', key: expect.stringMatching(/^rwc_/) });
    expect(created.body.command).toContain(`--id ${created.body.id}`);
    expect(created.body.mqttUrl).toBe(`mqtt://127.0.0.1:${server.broker!.port}`);
    const op = await api('POST', '/api/v1/users', { username: 'op', password: 'operator-pass', role: 'operator' });
    expect(op.status).toBe(201);
    const opToken = (await server.api('POST', '/api/v1/auth/login', { body: { username: 'op', password: 'operator-pass' } })).body.accessToken;
    expect((await api('POST', '/api/v1/agents', { name: 'nope' }, opToken)).status).toBe(403);
    expect((await api('DELETE', `/api/v1/agents/${created.body.id}`, undefined, opToken)).status).toBe(403);
    const list = await api('GET', '/api/v1/agents', undefined, opToken);
    expect(list.body).toMatchObject([{ id: created.body.id, name: 'site-a', online: false, revoked: false, printers: [] }]);
    // Keys list it as an agent key; a user cannot get the agent role.
    expect((await api('GET', '/api/v1/api-keys')).body).toMatchObject([{ id: created.body.id, role: 'agent' }]);
    expect((await api('POST', '/api/v1/users', { username: 'bot', password: 'long-enough', role: 'agent' })).status).toBe(400);
    expect((await api('POST', '/api/v1/api-keys', { name: 'k', role: 'agent' })).status).toBe(400);
    expect((await api('GET', '/api/v1/agents/nope')).status).toBe(404);
    expect((await api('POST', `/api/v1/agents/${created.body.id}/estop`, { printerId: 'ghost' })).status).toBe(400);
  });

  it('applies agent events once and in order, asks again for a gap, and serves job files only to the agent they were sent to', async () => {
    server = await startTestServer({ config: { staleAfterSeconds: 5 } });
    const { accessToken } = await setupAdmin(server);
    const api = (m: string, u: string, body?: unknown) => server!.api(m, u, { token: accessToken, body });
    const a = (await api('POST', '/api/v1/agents', { name: 'site-a' })).body;
    const b = (await api('POST', '/api/v1/agents', { name: 'site-b' })).body;
    const agent = await rawAgent(server, a.id, a.key);
    client = agent.c;
    await agent.send('hello', {
      v: 1,
      conn: 'c1',
      agentVersion: 'test',
      hostname: 'h',
      journalId: 'j1',
      firstSeq: 1,
      lastSeq: 0,
      now: Date.now(),
      printers: [{ id: 'p1', name: 'Edge 1', driver: 'simulated-marlin', model: null, fileKinds: ['gcode'] }],
    });
    await waitFor(() => agent.got.find((g) => g.name === 'welcome'), 'welcome');
    expect(agent.got.find((g) => g.name === 'welcome')!.msg).toMatchObject({ v: 1, conn: 'c1', ackedSeq: 0 });
    const printerId = await waitFor(async () => (await api('GET', `/api/v1/agents/${a.id}`)).body.printers[0]?.printerId, 'printer in the fleet');
    const printer = (await api('GET', `/api/v1/printers/${printerId}`)).body;
    expect(printer).toMatchObject({ driver: 'agent', name: 'Edge 1', connection: { agentId: a.id, printerId: 'p1', kind: 'simulated-marlin', fileKinds: ['gcode'] } });

    const seen: string[] = [];
    server.infra.bus.on('printer.state', seen, ({ printerId: id, state }) => id === printerId && seen.push(`${state.status}${state.stale ? '*' : ''}`));
    await agent.send('event', { seq: 1, at: Date.now(), kind: 'state', printerId: 'p1', state: printerState('idle') });
    await agent.send('event', { seq: 3, at: Date.now(), kind: 'state', printerId: 'p1', state: printerState('paused') });
    await waitFor(() => agent.got.find((g) => g.name === 'resend'), 'a resend for the gap');
    expect(agent.got.find((g) => g.name === 'resend')!.msg).toEqual({ fromSeq: 2 });
    await agent.send('event', { seq: 2, at: Date.now(), kind: 'state', printerId: 'p1', state: printerState('printing') });
    await agent.send('event', { seq: 2, at: Date.now(), kind: 'state', printerId: 'p1', state: printerState('error') });
    await agent.send('event', { seq: 3, at: Date.now(), kind: 'state', printerId: 'p1', state: printerState('paused') });
    // Telemetry ahead of the applied events is not applied.
    await agent.send('telemetry', { afterSeq: 9, at: Date.now(), full: true, printers: { p1: printerState('idle') } }, 0);
    await waitFor(async () => (await api('GET', `/api/v1/agents/${a.id}`)).body.appliedSeq === 3, 'applied up to 3');
    expect(seen).toEqual(['idle*', 'printing*', 'paused*']);
    expect((await api('GET', `/api/v1/printers/${printerId}`)).body.state).toMatchObject({ status: 'paused', stale: true });
    await agent.send('telemetry', { afterSeq: 3, at: Date.now(), full: true, printers: { p1: printerState('paused', { progress: 55 }) } }, 0);
    await waitFor(async () => {
      const s = (await api('GET', `/api/v1/printers/${printerId}`)).body.state;
      return !s.stale && s.progress === 55;
    }, 'live after the full telemetry');

    // Files: none until a start names one; then only that one, only to this agent, with ranges.
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(fs.readFileSync(`${BAMBU_FIXTURES}/fdm-monster.bambu.gcode.3mf`))]), 'cube.gcode.3mf');
    const file = (await server.api('POST', '/api/v1/files', { token: accessToken, body: form })).body;
    const url = `/api/v1/agents/files/${file.sha256}`;
    expect((await server.api('GET', url, { apiKey: a.key })).status).toBe(404);
    void server.agents.hub
      .command({ agentId: a.id, printerId: 'p1', kind: 'startJob', args: {}, deadlineSeconds: 60, fileSha256: file.sha256 })
      .catch(() => undefined);
    await waitFor(() => agent.got.find((g) => g.name === 'cmd'), 'the start command');
    const whole = await fetch(server.url + url, { headers: { 'x-api-key': a.key } });
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).length).toBe(file.size);
    const part = await fetch(server.url + url, { headers: { 'x-api-key': a.key, range: 'bytes=100-' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-${file.size - 1}/${file.size}`);
    expect(Buffer.from(await part.arrayBuffer()).length).toBe(file.size - 100);
    expect((await server.api('GET', url, { apiKey: b.key })).status).toBe(404);
    expect((await server.api('GET', url, { token: accessToken })).status).toBe(403);
    expect((await server.api('GET', url, { apiKey: a.key, headers: { range: `bytes=${file.size}-` } })).status).toBe(416);

    // The link goes quiet: after the stale limit the printer is unknown and stale.
    await waitFor(async () => (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status === 'unknown', 'unknown after silence', 12_000);
  });
});
