/**
 * WebSocket delta mode (`?delta=1`): the snapshot, then `printers.patch` with only what changed;
 * the state a tab rebuilds equals the server's, while classic clients keep getting `printer.state`.
 */
import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, diffState, jsonEqual } from '../../src/http/state-delta.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

describe('state patches (pure)', () => {
  it('a patch turns the old state into the new one and holds only what changed', () => {
    const a = { status: 'printing', progress: 10, temperatures: { nozzle: { actual: 200, target: 220 }, bed: { actual: 60, target: 60 } }, job: { id: 'j' }, notices: [1] };
    const b = { status: 'printing', progress: 11, temperatures: { nozzle: { actual: 201.5, target: 220 }, bed: { actual: 60, target: 60 } }, job: null, notices: [1, 2] };
    const d = diffState(a, b);
    expect(d).toEqual({ progress: 11, temperatures: { nozzle: { actual: 201.5 } }, job: null, notices: [1, 2] });
    expect(jsonEqual(applyPatch(structuredClone(a), d), b)).toBe(true);
    expect(diffState(b, structuredClone(b))).toBeUndefined();
    // A key that disappears is sent as null, and null counts as gone.
    const gone = diffState({ x: 1, y: 2 }, { x: 1 });
    expect(gone).toEqual({ y: null });
    expect(jsonEqual(applyPatch({ x: 1, y: 2 }, gone), { x: 1 })).toBe(true);
    expect(diffState(undefined, b)).toEqual(b);
  });
});

describe('WebSocket delta mode', () => {
  let s: TestServer;
  let token: string;
  const sims: BambuSimulator[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) sims.push(new BambuSimulator({ model: 'A1', reportIntervalMs: 100, timeScale: 10, serial: `01P00A4510000${i}0` }));
    await Promise.all(sims.map((x) => x.start()));
    s = await startTestServer();
    token = (await setupAdmin(s)).accessToken;
    for (const [i, sim] of sims.entries()) {
      const r = await s.api('POST', '/api/v1/printers', { token, body: { name: `A1 ${i}`, driver: 'bambu', connection: sim.connectionInfo() } });
      expect(r.status).toBe(201);
    }
  }, 30_000);
  afterAll(async () => {
    await s?.destroy();
    await Promise.all(sims.map((x) => x.stop()));
  });

  const open = (query: string) => {
    const msgs: any[] = [];
    const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/v1/ws?token=${token}${query}`);
    ws.on('message', (raw) => msgs.push(JSON.parse(String(raw))));
    return { ws, msgs };
  };

  it('rebuilds exactly the printers’ state from the snapshot and patches; classic clients are unchanged', async () => {
    const delta = open('&delta=1');
    const classic = open('');
    await waitFor(() => delta.msgs[0]?.type === 'snapshot' && classic.msgs[0]?.type === 'snapshot', 'snapshots');
    // Printing: temperatures and progress move on every report.
    for (const sim of sims) sim.setState({ gcode_state: 'RUNNING', mc_percent: 5, mc_remaining_time: 30 } as any);
    await sleep(1500);
    for (const [i, sim] of sims.entries()) sim.setState({ bed_target_temper: 71 + i, mc_percent: 40 + i } as any);
    await waitFor(() => delta.msgs.some((m) => m.type === 'printers.patch'), 'a patch');
    for (const sim of sims) sim.setSilent(true);
    await sleep(2500);
    const states = new Map<string, any>();
    for (const p of delta.msgs[0].data.printers) states.set(p.id, p.state);
    for (const m of delta.msgs.slice(1)) {
      if (m.type !== 'printers.patch') continue;
      for (const [id, patch] of Object.entries(m.data)) states.set(id, applyPatch(states.get(id), patch));
    }
    const now = (await s.api('GET', '/api/v1/printers', { token })).body as any[];
    expect(now).toHaveLength(2);
    for (const p of now) {
      expect(jsonEqual(states.get(p.id), p.state), `printer ${p.name}`).toBe(true);
      expect(p.state.temperatures.bed.target).toBeGreaterThanOrEqual(71);
    }
    expect(delta.msgs.some((m) => m.type === 'printer.state')).toBe(false);
    expect(classic.msgs.some((m) => m.type === 'printer.state')).toBe(true);
    expect(classic.msgs.some((m) => m.type === 'printers.patch')).toBe(false);
    // A patch carries only what changed: far less than the full states it updates.
    const patchBytes = delta.msgs.filter((m) => m.type === 'printers.patch').reduce((n, m) => n + JSON.stringify(m).length, 0);
    const stateBytes = classic.msgs.filter((m) => m.type === 'printer.state').reduce((n, m) => n + JSON.stringify(m).length, 0);
    expect(patchBytes).toBeLessThan(stateBytes / 2);
    delta.ws.close();
    classic.ws.close();
  }, 30_000);
});
