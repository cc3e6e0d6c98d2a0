/**
 * The embedded agent broker (issue 15): each agent key reaches only `rwc/agents/<keyId>/…`, nobody
 * subscribes to `#` or publishes as a printer, a client id cannot be taken over with another key,
 * a revoked key is disconnected, and TLS is available. Real MQTT clients over real sockets.
 */
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerPolicy } from '../../src/agents/broker-policy.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

describe('agent broker topic policy (pure)', () => {
  it('keeps each key inside its own namespace', () => {
    expect(brokerPolicy.mayPublish('k1', 'rwc/agents/k1/status')).toBe(true);
    expect(brokerPolicy.mayPublish('k1', 'rwc/agents/k2/status')).toBe(false);
    expect(brokerPolicy.mayPublish('k1', 'device/SERIAL/report')).toBe(false);
    expect(brokerPolicy.mayPublish('k1', 'rwc/agents/k1/#')).toBe(false);
    expect(brokerPolicy.mayPublish('k1', '$SYS/x')).toBe(false);
    expect(brokerPolicy.mayPublish('k1', 'rwc/agents/k1')).toBe(false);
    expect(brokerPolicy.maySubscribe('k1', 'rwc/agents/k1/#')).toBe(true);
    expect(brokerPolicy.maySubscribe('k1', 'rwc/agents/k1/cmd/+')).toBe(true);
    for (const f of ['#', '+/#', 'rwc/#', 'rwc/agents/+/status', 'rwc/agents/#', '$share/g/rwc/agents/k1/#', 'device/+/report']) {
      expect(brokerPolicy.maySubscribe('k1', f), f).toBe(false);
    }
    expect(brokerPolicy.maySubscribe('k+', 'k+/x')).toBe(false);
  });
});

describe('agent broker over MQTT', () => {
  let s: TestServer;
  let a: { id: string; key: string };
  let b: { id: string; key: string };
  let viewer: string;
  let admin: string;
  const clients: MqttClient[] = [];
  const connect = async (password: string, clientId: string, opts: { tls?: boolean } = {}) => {
    const url = opts.tls ? `mqtts://127.0.0.1:${s.broker!.tlsPort}` : `mqtt://127.0.0.1:${s.broker!.port}`;
    const c = await mqtt.connectAsync(url, { clientId, username: 'agent', password, reconnectPeriod: 0, connectTimeout: 10_000, rejectUnauthorized: false });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    s = await startTestServer({ config: { mqttTlsPort: 0 } });
    admin = (await setupAdmin(s)).accessToken;
    const make = async (name: string, role: string) => (await s.api('POST', '/api/v1/api-keys', { token: admin, body: { name, role } })).body;
    a = await make('agent-a', 'operator');
    b = await make('agent-b', 'operator');
    viewer = (await make('viewer', 'viewer')).key;
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await s?.destroy();
  });

  it('lets an agent use its own topics only', async () => {
    const ca = await connect(a.key, 'agent-a');
    const cb = await connect(b.key, 'agent-b');
    const gotA: string[] = [];
    const gotB: string[] = [];
    ca.on('message', (t) => gotA.push(t));
    cb.on('message', (t) => gotB.push(t));
    // mqtt.js rejects a SUBACK with 0x80 (refused); either way we read the granted code.
    const grants = (c: MqttClient, topic: string) =>
      c.subscribeAsync(topic).then(
        (g) => g[0]!.qos,
        (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] ?? -1,
      );
    expect(await grants(ca, `rwc/agents/${a.id}/#`)).toBe(0);
    expect(await grants(cb, `rwc/agents/${b.id}/#`)).toBe(0);
    for (const f of ['#', '+/#', `rwc/agents/${b.id}/#`, 'rwc/agents/+/status', 'device/+/report', '$SYS/#']) {
      expect(await grants(ca, f), f).toBe(128);
    }
    await ca.publishAsync(`rwc/agents/${a.id}/status`, 'mine', { qos: 1 });
    await waitFor(() => gotA.includes(`rwc/agents/${a.id}/status`), 'own message');
    // Into another agent's namespace or as a printer: refused (the broker drops the client).
    await ca.publishAsync(`rwc/agents/${b.id}/status`, 'theirs', { qos: 0 }).catch(() => {});
    await sleep(300);
    expect(gotB).toEqual([]);
  });

  it('refuses a client id held by another key, and viewer keys', async () => {
    const first = await connect(b.key, 'shared-id');
    await expect(connect(a.key, 'shared-id')).rejects.toThrow();
    expect(first.connected).toBe(true);
    await expect(connect(viewer, 'viewer-agent')).rejects.toThrow();
    await expect(connect('rwc_wrong', 'nobody')).rejects.toThrow();
  });

  it('disconnects an agent whose key is revoked', async () => {
    const c = await connect(b.key, 'agent-b-2');
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    expect((await s.api('DELETE', `/api/v1/api-keys/${b.id}`, { token: admin })).status).toBe(204);
    await closed;
    await expect(connect(b.key, 'agent-b-3')).rejects.toThrow();
  });

  it('speaks TLS with a certificate made in the data dir', async () => {
    const c = await connect(a.key, 'agent-a-tls', { tls: true });
    expect(c.connected).toBe(true);
    const key = path.join(s.dataDir, 'mqtt-tls.key');
    expect(fs.readFileSync(path.join(s.dataDir, 'mqtt-tls.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(fs.statSync(key).mode & 0o077).toBe(0);
  });
});
