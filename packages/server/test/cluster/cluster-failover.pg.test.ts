/**
 * Scale-out against the real PostgreSQL: three server processes (child processes through the CLI)
 * share one database, one data dir and a fleet of simulated Bambu printers (real MQTT/TLS + FTPS).
 * Printers are spread over the processes by lease; a WebSocket client on one process sees the
 * printers another runs; kill -9 of a process mid-print: its printers are taken over, the running
 * prints adopted, nothing is started twice and no queued copy is lost.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ChildServer, projectFiles, waitFor } from '../e2e/child-server.ts';
import { CRASH_SIM } from '../e2e/crash-rig.ts';
import pg from 'pg';
import { createTempDatabase } from '../helpers/pg.ts';

const LEASE_SECONDS = 3;
const PRINTERS = 4;
// Generous: three cold tsx servers and four TLS simulators on a loaded two-core machine.
const SLOW = 60_000;

describe('scale-out: three server processes share one fleet (PostgreSQL, shared data dir)', () => {
  let db: Awaited<ReturnType<typeof createTempDatabase>>;
  let dataDir: string;
  const servers: ChildServer[] = [];
  const sims: BambuSimulator[] = [];
  let ws: WebSocket | null = null;

  beforeAll(async () => {
    db = await createTempDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-cluster-'));
  });

  afterAll(async () => {
    ws?.close();
    for (const s of servers) await s.kill9();
    for (const sim of sims) await sim.stop();
    await db?.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Reads the shared database directly (what the processes wrote, not what they say). */
  const query = async <T>(text: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return (await client.query(text)).rows as T[];
    } finally {
      await client.end();
    }
  };

  const cluster = async (s: ChildServer) => {
    const res = await s.api('GET', '/api/v1/cluster');
    expect(res.status).toBe(200);
    return res.body as {
      processes: { id: string; host: string; startedAt: string; printers: number; alive: boolean }[];
      leaseSeconds: number;
    };
  };

  const t0 = Date.now();
  const mark = (what: string) => process.env.RWC_TEST_TRACE && console.log(what, Date.now() - t0);
  it('spreads the printers, fans events out, and survives kill -9 of a process mid-print', async () => {
    const env = { RWC_DATABASE_URL: db.url, RWC_LEASE_SECONDS: String(LEASE_SECONDS) };
    const [a, b, c] = [0, 1, 2].map(() => new ChildServer(dataDir, env)) as [ChildServer, ChildServer, ChildServer];
    servers.push(a, b, c);
    await Promise.all([a, b, c].map((s) => s.start()));
    // A process id starts with its OS pid: that tells which registry row is which child.
    const rows = await query<{ id: string }>('SELECT id FROM cluster_processes');
    const idOf = new Map([a, b, c].map((s) => [s, rows.find((r) => r.id.startsWith(`${s.pid}-`))?.id]));
    expect([...idOf.values()].every(Boolean)).toBe(true);
    mark('started');
    await a.setupAdmin();
    // One key in the shared data dir: a token from one process is good on every other.
    b.token = a.token;
    c.token = a.token;
    expect((await cluster(c)).processes.filter((p) => p.alive)).toHaveLength(3);

    for (let k = 0; k < PRINTERS; k++) sims.push(new BambuSimulator({ ...CRASH_SIM, timeScale: 20 }));
    await Promise.all(sims.map((sim) => sim.start()));
    const ids: string[] = [];
    for (const [k, sim] of sims.entries()) {
      const id = await [a, b, c][k % 3]!.addBambu(`A1-${k}`, sim);
      expect((await a.api('PATCH', `/api/v1/printers/${id}`, { settings: { swapCooldownSeconds: 1 } })).status).toBe(
        200,
      );
      ids.push(id);
    }

    mark('added');
    // Every printer runs under exactly one process; new printers were spread over the live ones.
    const spread = await waitFor(
      async () => {
        const view = await cluster(b);
        return view.processes.reduce((n, p) => n + p.printers, 0) === PRINTERS && view;
      },
      'every printer leased',
      SLOW,
    );
    expect(spread.leaseSeconds).toBe(LEASE_SECONDS);
    expect(spread.processes.every((p) => p.printers <= 2)).toBe(true);
    expect(spread.processes.filter((p) => p.printers > 0).length).toBeGreaterThanOrEqual(2);
    // The states of printers run elsewhere show on every process (fan-out through LISTEN/NOTIFY).
    for (const s of [a, b, c]) {
      await waitFor(
        async () => {
          const list = (await s.api('GET', '/api/v1/printers')).body as any[];
          return list.length === PRINTERS && list.every((p) => p.state.status === 'idle');
        },
        'all printers idle on every process',
        SLOW,
      );
    }

    mark('idle everywhere');
    // A WebSocket client on A sees events of printers that other processes run.
    const leases = await query<{ printer_id: string; process_id: string }>(
      'SELECT printer_id, process_id FROM printer_leases',
    );
    const aId = idOf.get(a)!;
    const elsewhere = leases.filter((l) => l.process_id !== aId).map((l) => l.printer_id);
    expect(elsewhere.length).toBeGreaterThan(0);
    // AI settings changed through A reach the process that runs the printer at once.
    const ownerOf = (printerId: string) => [a, b, c].find((s) => idOf.get(s) === leases.find((l) => l.printer_id === printerId)!.process_id)!;
    const printerIds = new Set(((await a.api('GET', '/api/v1/printers')).body as any[]).map((p) => p.id));
    const remote = elsewhere.find((id) => printerIds.has(id))!;
    const put = await a.api('PUT', `/api/v1/ai/printers/${remote}/settings`, { intervalSeconds: 37 });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    await waitFor(
      async () => (await ownerOf(remote).api('GET', `/api/v1/ai/printers/${remote}`)).body.settings?.intervalSeconds === 37,
      'the AI settings on the owning process',
      SLOW,
    );
    const seen: any[] = [];
    ws = new WebSocket(`${a.url.replace(/^http/, 'ws')}/api/v1/ws?token=${a.token}`);
    ws.on('message', (raw) => seen.push(JSON.parse(String(raw))));
    await new Promise<void>((resolve, reject) => {
      ws!.once('open', () => resolve());
      ws!.once('error', reject);
    });

    // Upload on C (shared data dir), queue on B: five copies for four printers.
    const fileId = await c.uploadFixture();
    const added = await b.api('POST', '/api/v1/queue', { fileId, copies: PRINTERS + 1 });
    expect(added.status).toBe(201);
    const itemId = added.body.id as string;
    await waitFor(() => sims.every((sim) => sim.gcodeState === 'RUNNING'), 'four prints running', SLOW);
    expect(sims.map((sim) => projectFiles(sim).length)).toEqual([1, 1, 1, 1]);
    await waitFor(
      () =>
        seen.some(
          (m) =>
            m.type === 'printer.state' && elsewhere.includes(m.data.printerId) && m.data.state.status === 'printing',
        ),
      'A’s socket shows a printer another process runs, printing',
      SLOW,
    );

    mark('printing');
    // kill -9 of the process that runs the most printers, mid-print.
    const view = await cluster(a);
    const victimRow = view.processes.reduce((x, y) => (y.printers > x.printers ? y : x));
    const victim = [a, b, c].find((s) => idOf.get(s) === victimRow.id)!;
    const survivors = [a, b, c].filter((s) => s !== victim);
    const orphaned = leases.filter((l) => l.process_id === victimRow.id).map((l) => l.printer_id);
    expect(orphaned.length).toBeGreaterThan(0);
    await victim.kill9();

    const after = await waitFor(
      async () => {
        const v = await cluster(survivors[0]!);
        const live = v.processes.filter((p) => p.alive);
        return live.length === 2 && live.reduce((n, p) => n + p.printers, 0) === PRINTERS && v;
      },
      'the dead process’s printers taken over',
      SLOW,
    );
    expect(after.processes.find((p) => p.id === victimRow.id)).toMatchObject({ alive: false, printers: 0 });

    mark('taken over');
    // The running prints were adopted, not restarted: still one start each, four copies printing.
    const item = await waitFor(
      async () => {
        const it = (await survivors[0]!.queue()).items.find((i: any) => i.id === itemId);
        return it?.activePrinterIds.length === PRINTERS && it;
      },
      'four copies still printing after the takeover',
      SLOW,
    );
    expect(item.copiesDone).toBe(0);
    expect(sims.map((sim) => projectFiles(sim).length)).toEqual([1, 1, 1, 1]);

    mark('adopted');
    // Everything finishes: the fifth copy goes out once, every copy is counted once.
    for (const sim of sims) sim.finishNow();
    await waitFor(
      () => sims.reduce((n, sim) => n + projectFiles(sim).length, 0) === PRINTERS + 1,
      'the fifth copy started',
      SLOW,
    );
    const fifth = sims.find((sim) => projectFiles(sim).length === 2)!;
    await waitFor(() => fifth.gcodeState === 'RUNNING', 'the fifth copy printing', SLOW);
    fifth.finishNow();
    const done = await waitFor(
      async () => {
        const it = (await survivors[1]!.queue()).items.find((i: any) => i.id === itemId);
        return it?.status === 'done' && it;
      },
      'item done',
      SLOW,
    );
    expect(done).toMatchObject({ copies: PRINTERS + 1, copiesDone: PRINTERS + 1 });
    expect(sims.reduce((n, sim) => n + projectFiles(sim).length, 0)).toBe(PRINTERS + 1);
    const finished = await query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE status = 'finished'");
    expect(Number(finished[0]!.n)).toBe(PRINTERS + 1);
  }, 240_000);
});
