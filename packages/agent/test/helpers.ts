/**
 * Rig for agent tests: the real server (embedded broker, queue, library), a real edge agent linked
 * to it over MQTT (through a TCP proxy that can cut the link), and printers that are real simulators
 * reached by the real drivers on the agent's side.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BambuSimulator, type BambuSimOptions } from '@rwc/simulators/bambu/index.ts';
import { bambuDriverCapability } from '@rwc/server/printers/bambu/capability.ts';
import { BambuDriver } from '@rwc/server/printers/bambu/driver.ts';
import type { Config } from '@rwc/server/config/config.ts';
import { silentLogger } from '@rwc/server/util/logger.ts';
import { type TestServer, setupAdmin, startTestServer, tempDir } from '../../server/test/helpers/server.ts';
import { BAMBU_FIXTURES } from '../../server/test/helpers/fixtures.ts';
import { waitFor } from '../../server/test/helpers/wait.ts';
import { EdgeAgent, type EdgeAgentOptions, builtinRegistry } from '../src/agent.ts';
import type { AgentPrinterConfig } from '../src/local-printers.ts';
import { TcpProxy } from './tcp-proxy.ts';

export { waitFor };
export const FIXTURE_3MF = path.join(BAMBU_FIXTURES, 'fdm-monster.bambu.gcode.3mf');

/** The real drivers, plus `bambu-test`: the Bambu driver with a short start watchdog. */
export function testRegistry() {
  const r = builtinRegistry();
  r.register('printer-driver', 'bambu-test', { ...bambuDriverCapability, create: (ctx) => new BambuDriver(ctx, { startConfirmTimeoutMs: 3000 }) });
  return r;
}

export interface Rig {
  server: TestServer;
  token: string;
  /** Stops the server and starts it again on the same data (new broker port behind the same proxy). */
  restartServer(): Promise<void>;
  agentId: string;
  agentKey: string;
  proxy: TcpProxy;
  agent: EdgeAgent | null;
  agentDir: string;
  sims: BambuSimulator[];
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  startAgent(printers: AgentPrinterConfig[], extra?: Partial<EdgeAgentOptions>): Promise<EdgeAgent>;
  bambuSim(opts?: BambuSimOptions): Promise<BambuSimulator>;
  uploadFixture(): Promise<string>;
  /** The fleet printer for an agent printer id (waits for it to appear). */
  fleetPrinter(agentPrinterId: string): Promise<string>;
  close(): Promise<void>;
}

export async function startRig(opts: { config?: Partial<Config>; brokerPort?: number; brokerUrl?: (port: number) => string; caFile?: string } = {}): Promise<Rig> {
  const server = await startTestServer({ config: { staleAfterSeconds: 5, agentCommandTtlSeconds: 20, ...(opts.config ?? {}) } });
  const { accessToken } = await setupAdmin(server);
  const api: Rig['api'] = (method, url, body) => rig.server.api(method, url, { token: accessToken, body });
  const created = await server.api('POST', '/api/v1/agents', { token: accessToken, body: { name: 'site-a' } });
  if (created.status !== 201) throw new Error(`agent not created: ${created.status} ${JSON.stringify(created.body)}`);
  const proxy = await TcpProxy.start(opts.brokerPort ?? server.broker!.port);
  const agentDir = tempDir('rwc-agent-');
  const rig: Rig = {
    server,
    token: accessToken,
    async restartServer() {
      rig.proxy.cut();
      rig.server = await rig.server.restart();
      rig.proxy.target.port = rig.server.broker!.port;
      rig.proxy.restore();
    },
    agentId: created.body.id,
    agentKey: created.body.key,
    proxy,
    agent: null,
    agentDir,
    sims: [],
    api,
    async startAgent(printers, extra = {}) {
      const agent = await EdgeAgent.start({
        server: opts.brokerUrl ? opts.brokerUrl(proxy.port) : `mqtt://127.0.0.1:${proxy.port}`,
        caFile: opts.caFile ?? null,
        http: rig.server.url,
        key: rig.agentKey,
        dataDir: agentDir,
        printers,
        registry: testRegistry(),
        logger: silentLogger(),
        telemetryMs: 200,
        ...extra,
      });
      rig.agent = agent;
      return agent;
    },
    async bambuSim(o = {}) {
      const sim = new BambuSimulator({ model: 'A1 mini', timeScale: 300, reportIntervalMs: 100, prepareSeconds: 10, endGcodeSeconds: 5, ...o });
      await sim.start();
      rig.sims.push(sim);
      return sim;
    },
    async uploadFixture() {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(fs.readFileSync(FIXTURE_3MF))]), 'cube.gcode.3mf');
      const res = await rig.server.api('POST', '/api/v1/files', { token: accessToken, body: form });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    async fleetPrinter(agentPrinterId) {
      return waitFor(async () => {
        const r = await api('GET', `/api/v1/agents/${rig.agentId}`);
        return r.body.printers?.find((p: any) => p.agentPrinterId === agentPrinterId)?.printerId as string | undefined;
      }, `agent printer ${agentPrinterId} in the fleet`);
    },
    async close() {
      await rig.agent?.stop();
      await proxy.close();
      await rig.server.destroy();
      for (const s of rig.sims) await s.stop();
      fs.rmSync(agentDir, { recursive: true, force: true });
    },
  };
  return rig;
}

/** An agent printer config for a Bambu simulator reached by the real Bambu driver. */
export function bambuPrinter(id: string, sim: BambuSimulator): AgentPrinterConfig {
  return { id, name: `A1 ${id}`, driver: 'bambu-test', model: 'A1 mini', connection: sim.connectionInfo() as unknown as Record<string, unknown> };
}
