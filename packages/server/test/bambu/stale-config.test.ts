import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

describe('the server stale limit (RWC_STALE_AFTER) reaches the Bambu driver', () => {
  let s: TestServer;
  let sim: BambuSimulator;
  let token: string;
  beforeAll(async () => {
    sim = new BambuSimulator({ reportIntervalMs: 200 });
    await sim.start();
    s = await startTestServer({ config: { staleAfterSeconds: 5 } });
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => {
    await s?.destroy();
    await sim?.stop();
  });

  it('a silent printer turns unknown and stale after the configured 5 s, and recovers', async () => {
    const created = await s.api('POST', '/api/v1/printers', {
      token,
      body: {
        name: 'quiet',
        driver: 'bambu',
        model: sim.model,
        connection: sim.connectionInfo(),
      },
    });
    const id = created.body.id as string;
    const state = async () => (await s.api('GET', `/api/v1/printers/${id}`, { token })).body.state;
    const until = async (ok: (st: any) => boolean, what: string, ms: number) => {
      const end = Date.now() + ms;
      for (;;) {
        const st = await state();
        if (ok(st)) return st;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(st)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until((st) => st.status === 'idle', 'idle', 10_000);
    sim.setSilent(true);
    const silentAt = Date.now();
    const stale = await until((st) => st.stale === true, 'stale', 12_000);
    // Not before the limit (the default would be 60 s), and the gate closes.
    expect(Date.now() - silentAt).toBeGreaterThanOrEqual(4_500);
    expect(stale.status).toBe('unknown');
    expect(stale.gate.open).toBe(false);
    sim.setSilent(false);
    await until((st) => st.status === 'idle' && !st.stale, 'recovery', 20_000);
  });
});
