/**
 * Rig for the field cases (../shared/cases): the real server (HTTP, auth, fleet, library, queue)
 * with Bambu printers that are simulators reached over real TLS MQTT + FTPS by the real driver.
 * Unlike e2e-helpers, the printer's typed model, the driver's start watchdog and the uploaded
 * file are chosen per test.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BambuSimulator, type BambuSimOptions } from '@rwc/simulators/bambu/index.ts';
import type { DomainEvent } from '../../src/events/bus.ts';
import { bambuDriverCapability } from '../../src/printers/bambu/capability.ts';
import { BambuDriver } from '../../src/printers/bambu/driver.ts';
import type { PrinterSettings } from '../../src/printers/model.ts';
import { setupAdmin, startTestServer, type TestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

/** ../shared/cases beside the repository. */
export const CASES = path.resolve(import.meta.dirname, '../../../../../shared/cases');
export const caseFile = (...parts: string[]) => path.join(CASES, ...parts);
export const caseJson = (...parts: string[]) => JSON.parse(readFileSync(caseFile(...parts), 'utf8'));

export interface CasesRig {
  server: TestServer;
  events: DomainEvent[];
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  addPrinter(o: {
    name: string;
    /** What the user types (null: added without a model). */
    model: string | null;
    sim?: BambuSimOptions;
    settings?: Partial<PrinterSettings>;
    /** Wait until the printer shows this status (default idle). */
    until?: string;
  }): Promise<{ id: string; sim: BambuSimulator }>;
  /** Uploads a file under the given display name; returns the file record. */
  upload(file: string, name: string): Promise<any>;
  close(): Promise<void>;
}

export async function startCasesRig(o: { startConfirmTimeoutMs?: number } = {}): Promise<CasesRig> {
  const server = await startTestServer();
  const { accessToken } = await setupAdmin(server);
  server.infra.registry.register('printer-driver', 'bambu-cases', {
    ...bambuDriverCapability,
    create: (ctx) => new BambuDriver(ctx, { startConfirmTimeoutMs: o.startConfirmTimeoutMs ?? 1500 }),
  });
  const sims: BambuSimulator[] = [];
  const events: DomainEvent[] = [];
  server.infra.bus.onAny(events, (e) => events.push(e));
  const api = (method: string, url: string, body?: unknown) => server.api(method, url, { token: accessToken, body });
  return {
    server,
    events,
    api,
    async addPrinter({ name, model, sim: simOpts = {}, settings = {}, until = 'idle' }) {
      const sim = new BambuSimulator({
        timeScale: 500,
        reportIntervalMs: 50,
        prepareSeconds: 10,
        endGcodeSeconds: 5,
        ...simOpts,
      });
      await sim.start();
      sims.push(sim);
      const res = await api('POST', '/api/v1/printers', {
        name,
        driver: 'bambu-cases',
        model,
        connection: sim.connectionInfo(),
        settings: { swapCooldownSeconds: 1, ...settings },
      });
      if (res.status !== 201) throw new Error(`add printer: ${res.status} ${JSON.stringify(res.body)}`);
      const id = res.body.id as string;
      await waitFor(() => server.fleet.get(id)?.state.status === until, `${name} ${until}`);
      return { id, sim };
    },
    async upload(file, name) {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(readFileSync(file))]), name);
      const res = await api('POST', '/api/v1/files', form);
      if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async close() {
      await server.destroy();
      for (const sim of sims) await sim.stop();
    },
  };
}
