import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

describe('the demo fleet on a fresh data dir', () => {
  let s: TestServer;
  let token: string;
  beforeAll(async () => {
    // demo: null = the default: on for a fresh data dir.
    s = await startTestServer({ config: { demo: null } });
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => s?.destroy());

  it('connects simulated Bambu, Marlin and Klipper printers over their real protocols', async () => {
    const printers = await waitFor(async () => {
      const list = (await s.api('GET', '/api/v1/printers', { token })).body as any[];
      return list.length === 4 && list.every((p) => p.state.status === 'idle' && p.state.fullStatus) && list;
    }, 'four idle demo printers', 20_000);
    expect(printers.map((p) => p.driver).sort()).toEqual([
      'simulated-bambu',
      'simulated-bambu',
      'simulated-marlin',
      'simulated-moonraker',
    ]);
    for (const p of printers) expect(p.state.temperatures.nozzle.actual).toBeGreaterThan(0);
  });

  it('puts demo files in the library', async () => {
    const files = (await s.api('GET', '/api/v1/files', { token })).body as any[];
    expect(files.map((f) => f.name).sort()).toEqual(['cube-a1mini.gcode.3mf', 'demo-tower.gcode', 'tower-a1.gcode.3mf']);
    const cube = files.find((f) => f.name === 'cube-a1mini.gcode.3mf');
    expect(cube.printerModel).toBe('A1 mini');
    expect(cube.plates[0].estimatedSeconds).toBeGreaterThan(0);
    // Every demo printer has a file it fits: the A1 tower goes to the A1 only (its G-code MD5 holds).
    const a1 = files.find((f) => f.name === 'tower-a1.gcode.3mf');
    expect(a1.printerModel).toBe('A1');
    const fit = await s.api('POST', '/api/v1/queue/fit', { token, body: { fileId: a1.id } });
    expect(fit.status).toBe(200);
    expect(fit.body.printers.filter((p: any) => p.fits).map((p: any) => p.printerName)).toEqual(['A1-01']);
  });

  it('does not add the demo fleet again after a restart, nor to a data dir that has users', async () => {
    s = await s.restart();
    const list = (await s.api('GET', '/api/v1/printers', { token })).body as any[];
    expect(list).toHaveLength(4);
  });
});
