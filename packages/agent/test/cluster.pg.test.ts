/**
 * Scale-out with edge agents: two server processes (in this process, each with its own pools, bus
 * and cluster membership) share one PostgreSQL, one data dir and a private Mosquitto. Both receive
 * every agent message from the broker, yet only the holder of the agents lease handles them: the
 * agent's printer joins the fleet once and is run there; when that process shuts down the other
 * takes the agents over and the printer comes back live under it.
 */
import fs from 'node:fs';
import pg from 'pg';
import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../src/agent.ts';
import { createTempDatabase } from '../../server/test/helpers/pg.ts';
import { type TestServer, setupAdmin, startTestServer, tempDir } from '../../server/test/helpers/server.ts';
import { silentLogger } from '@rwc/server/util/logger.ts';
import { bambuPrinter, testRegistry, waitFor } from './helpers.ts';
import { type PrivateMosquitto, startMosquitto } from './mosquitto.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

async function rows<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('scale-out with edge agents (PostgreSQL + Mosquitto)', () => {
  it('one process handles the agents; the other takes them over when it goes', async () => {
    const mosquitto: PrivateMosquitto = await startMosquitto();
    cleanup.push(() => mosquitto.stop());
    const db = await createTempDatabase();
    cleanup.push(() => db.drop());
    const dataDir = tempDir('rwc-cluster-agents-');
    cleanup.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const config = { leaseSeconds: 2, mqttUrl: mosquitto.adminUrl, mqttDynsec: true, staleAfterSeconds: 5 };
    const servers: TestServer[] = [];
    for (let k = 0; k < 2; k++) {
      const s = await startTestServer({ dataDir, databaseUrl: db.url, config });
      servers.push(s);
      cleanup.push(() => s.stop());
    }
    const [a, b] = servers as [TestServer, TestServer];
    const { accessToken: token } = await setupAdmin(a);
    const agentKey = (await a.api('POST', '/api/v1/agents', { token, body: { name: 'site-a' } })).body;
    expect(agentKey.id).toBeTruthy();

    const sim = new BambuSimulator({ model: 'A1 mini', reportIntervalMs: 200 });
    await sim.start();
    cleanup.push(() => sim.stop());
    const agentDir = tempDir('rwc-agent-');
    cleanup.push(async () => fs.rmSync(agentDir, { recursive: true, force: true }));
    const agent = await EdgeAgent.start({
      server: `mqtt://127.0.0.1:${mosquitto.port}`,
      caFile: null,
      http: a.url,
      key: agentKey.key,
      dataDir: agentDir,
      printers: [bambuPrinter('a1', sim)],
      registry: testRegistry(),
      logger: silentLogger(),
      telemetryMs: 200,
    });
    cleanup.push(() => agent.stop());

    // The printer joins the fleet once (two hubs hear the agent's hello) and is live on both processes.
    const printerId = await waitFor(async () => {
      const r = await b.api('GET', `/api/v1/agents/${agentKey.id}`, { token });
      return r.body?.printers?.find((p: any) => p.agentPrinterId === 'a1')?.printerId as string | undefined;
    }, 'agent printer in the fleet', 30_000);
    for (const s of [a, b]) {
      await waitFor(async () => {
        const st = (await s.api('GET', `/api/v1/printers/${printerId}`, { token })).body?.state;
        return st?.status === 'idle' && !st.stale;
      }, 'agent printer live on every process', 30_000);
    }
    expect(await rows(db.url, "SELECT id FROM printers WHERE driver = 'agent'")).toHaveLength(1);
    const leaderOf = async () => {
      const r = await rows<{ printer_id: string; process_id: string }>(db.url, `SELECT printer_id, process_id FROM printer_leases WHERE printer_id IN ('~agents', '${printerId}')`);
      const m = new Map(r.map((x) => [x.printer_id, x.process_id]));
      return { agents: m.get('~agents'), printer: m.get(printerId) };
    };
    const first = await leaderOf();
    expect(first.agents).toBeTruthy();
    // The agent printer is run by the process that handles the agents.
    expect(first.printer).toBe(first.agents);
    const leader = servers.find((s) => s.cluster.processId === first.agents)!;
    const other = servers.find((s) => s !== leader)!;

    // The leader shuts down (its leases go at once): the other takes the agents and their printer.
    await leader.stop();
    await waitFor(async () => {
      const now = await leaderOf();
      return now.agents === other.cluster.processId && now.printer === other.cluster.processId;
    }, 'agents lease and agent printer taken over', 30_000);
    const since = Date.now();
    await waitFor(async () => {
      const st = (await other.api('GET', `/api/v1/printers/${printerId}`, { token })).body?.state;
      return st?.status === 'idle' && !st.stale && Date.parse(st.updatedAt) > since;
    }, 'agent printer live again under the new process', 30_000);
    expect(await rows(db.url, "SELECT id FROM printers WHERE driver = 'agent'")).toHaveLength(1);
  }, 120_000);
});
