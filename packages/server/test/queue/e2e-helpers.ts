/**
 * End-to-end rig: the real server (HTTP app, auth, fleet, library, queue) with printers that are
 * Bambu simulators reached over their real TLS MQTT and FTPS sockets by the real Bambu driver.
 */
import { readFileSync } from 'node:fs';
import { BambuSimulator, type BambuSimOptions } from '@rwc/simulators/bambu/index.ts';
import type { DomainEvent } from '../../src/events/bus.ts';
import { bambuDriverCapability } from '../../src/printers/bambu/capability.ts';
import { BambuDriver } from '../../src/printers/bambu/driver.ts';
import type { PrinterSettings } from '../../src/printers/model.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import path from 'node:path';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';
import { waitFor } from '../helpers/wait.ts';
export { waitFor };

export const FIXTURE_3MF = path.join(BAMBU_FIXTURES, 'fdm-monster.bambu.gcode.3mf');

export interface E2E {
  server: TestServer;
  token: string;
  sims: Map<string, BambuSimulator>;
  events: DomainEvent[];
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  addPrinter(
    name: string,
    settings?: Partial<PrinterSettings>,
    sim?: BambuSimOptions,
  ): Promise<{ id: string; sim: BambuSimulator }>;
  uploadFixture(): Promise<string>;
  close(): Promise<void>;
}

export async function startE2E(): Promise<E2E> {
  const server = await startTestServer();
  const { accessToken } = await setupAdmin(server);
  // The real Bambu driver with a short start-confirmation watchdog (90 s in production).
  server.infra.registry.register('printer-driver', 'bambu-e2e', {
    ...bambuDriverCapability,
    create: (ctx) => new BambuDriver(ctx, { startConfirmTimeoutMs: 1500 }),
  });
  const sims = new Map<string, BambuSimulator>();
  const events: DomainEvent[] = [];
  server.infra.bus.onAny(events, (e) => events.push(e));
  const e2e: E2E = {
    server,
    token: accessToken,
    sims,
    events,
    api: (method, url, body) => server.api(method, url, { token: accessToken, body }),
    async addPrinter(name, settings = {}, simOpts = {}) {
      const sim = new BambuSimulator({
        model: 'A1 mini',
        timeScale: 500,
        reportIntervalMs: 50,
        prepareSeconds: 10,
        endGcodeSeconds: 5,
        ...simOpts,
      });
      await sim.start();
      const p = await server.fleet.add({
        name,
        driver: 'bambu-e2e',
        model: 'A1 mini',
        connection: sim.connectionInfo(),
        settings: { nozzleDiameter: 0.4, swapCooldownSeconds: 1, ...settings },
      });
      sims.set(p.summary.id, sim);
      await waitFor(() => server.fleet.get(p.summary.id)?.state.status === 'idle', `${name} idle`);
      return { id: p.summary.id, sim };
    },
    async uploadFixture() {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(readFileSync(FIXTURE_3MF))]), 'cube.gcode.3mf');
      const res = await server.api('POST', '/api/v1/files', { token: accessToken, body: form });
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    async close() {
      await server.destroy();
      for (const sim of sims.values()) await sim.stop();
    },
  };
  return e2e;
}


export const projectFiles = (sim: BambuSimulator) =>
  sim.receivedCommands.filter((c) => c.print?.command === 'project_file');
