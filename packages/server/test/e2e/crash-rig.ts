/**
 * Setup shared by the crash/restart files: a child-process server with an admin, one simulated
 * A1 mini added over the API (driver `bambu`, real TLS MQTT/FTPS), plate-swap cooldown 1 s, and the
 * fixture uploaded. `cleanup()` kills what was started (call it from afterEach).
 */
import { BambuSimulator, type BambuSimOptions } from '@rwc/simulators/bambu/index.ts';
import { ChildServer, waitFor } from './child-server.ts';

// The fixture plate's slicer estimate is 1095 s: at ×100 a copy prints in about 11 s real time,
// long enough that a restart on a loaded machine still finds it running; tests end copies early
// with sim.finishNow() once they have seen what they need.
export const CRASH_SIM: BambuSimOptions = {
  model: 'A1 mini',
  timeScale: 100,
  reportIntervalMs: 100,
  prepareSeconds: 10,
  endGcodeSeconds: 5,
};

export interface CrashSetup {
  s: ChildServer;
  sim: BambuSimulator;
  printerId: string;
  fileId: string;
}

export class CrashRig {
  readonly #servers: ChildServer[] = [];
  readonly #sims: BambuSimulator[] = [];

  setup = async (simOpts: BambuSimOptions = {}): Promise<CrashSetup> => {
    const s = new ChildServer();
    this.#servers.push(s);
    const sim = new BambuSimulator({ ...CRASH_SIM, ...simOpts });
    this.#sims.push(sim);
    await Promise.all([s.start(), sim.start()]);
    await s.setupAdmin();
    const printerId = await s.addBambu('A1-crash', sim);
    const patched = await s.api('PATCH', `/api/v1/printers/${printerId}`, { settings: { swapCooldownSeconds: 1 } });
    if (patched.status !== 200) throw new Error(`PATCH printer settings: ${patched.status}`);
    await waitFor(async () => (await s.printerState(printerId)).status === 'idle', 'printer idle');
    const fileId = await s.uploadFixture();
    return { s, sim, printerId, fileId };
  };

  itemOf = async (s: ChildServer, id: string): Promise<any> => (await s.queue()).items.find((i: any) => i.id === id);

  /** The persisted event log (GET /api/v1/events), newest first. */
  events = async (s: ChildServer, type: string): Promise<any[]> => {
    const res = await s.api('GET', `/api/v1/events?type=${type}&limit=100`);
    if (res.status !== 200) throw new Error(`GET /events: ${res.status}`);
    return res.body;
  };

  cleanup = async (): Promise<void> => {
    for (const s of this.#servers.splice(0)) await s.destroy();
    for (const sim of this.#sims.splice(0)) await sim.stop();
  };
}
