/**
 * kill -9 of the server at the worst moments, then a restart on the same data dir. The server is a
 * child process (no shutdown hook runs); the Bambu simulators live in this process, so the printer
 * keeps printing — or finishes — while the server is dead, as a real one would. Everything goes over
 * real sockets: HTTP to the server, TLS MQTT + FTPS from the server's Bambu driver to the simulator.
 *
 * Invariants checked: a queued job is never lost, never started twice (counted on the printer's
 * wire: `project_file` commands), and a print that ran or ended during the downtime is adopted and
 * counted exactly once. Queued-only work and a crash during the upload: crash-restart-queue.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { projectFiles, waitFor } from './child-server.ts';
import { CrashRig } from './crash-rig.ts';

const rigs = new CrashRig();
afterEach(() => rigs.cleanup());
const { setup, itemOf, events } = rigs;

// Two cold server starts per test: generous on a loaded two-core machine (the scale-out e2e runs beside).
describe('crash and restart (kill -9 of the server process)', { timeout: 120_000 }, () => {
  it('mid-print: the running copy is adopted, counted once, and the next copy follows after the cooldown', async () => {
    const { s, sim, printerId, fileId } = await setup();
    const finishedAt: number[] = [];
    const startedAt: number[] = [];
    sim.on('state', (e: { state: string }) => e.state === 'FINISH' && finishedAt.push(Date.now()));
    sim.on('command', (c: any) => c.print?.command === 'project_file' && startedAt.push(Date.now()));
    const added = await s.api('POST', '/api/v1/queue', { fileId, copies: 2 });
    expect(added.status).toBe(201);
    const itemId = added.body.id as string;

    await waitFor(() => sim.gcodeState === 'RUNNING' && sim.status.mc_percent >= 2, 'copy 1 printing');
    await s.kill9();
    const percentAtKill = sim.status.mc_percent;
    expect(sim.gcodeState).toBe('RUNNING'); // the printer does not care that the server died

    await s.start();
    const adopted = await waitFor(async () => {
      const st = await s.printerState(printerId);
      return st.status === 'printing' && st.job?.queueItemId === itemId && st;
    }, 'the restarted server shows the print as its queue job');
    expect(adopted.job.queueItemId).toBe(itemId);
    // Restarted while copy 1 still runs (it kept printing meanwhile), and nothing was sent again.
    expect(sim.gcodeState).toBe('RUNNING');
    expect(sim.status.mc_percent).toBeGreaterThan(percentAtKill);
    expect(projectFiles(sim)).toHaveLength(1);
    expect(await itemOf(s, itemId)).toMatchObject({
      status: 'printing',
      copiesDone: 0,
      activePrinterIds: [printerId],
      lastError: null,
    });

    // Copy 1 ends (the simulator skips its remaining minutes) while the restarted server watches.
    sim.finishNow();
    const counted = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.copiesDone === 1 && item;
    }, 'copy 1 counted');
    // Between copies the item waits for the cooldown; the ended copy left no error behind.
    expect(counted).toMatchObject({ status: 'waiting', lastError: null, activePrinterIds: [] });
    // Counted before copy 2 goes out (1 s cooldown after FINISH).
    expect(projectFiles(sim)).toHaveLength(1);

    await waitFor(() => projectFiles(sim).length === 2 && sim.gcodeState === 'RUNNING', 'copy 2 printing');
    sim.finishNow();
    const done = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.status === 'done' && item;
    }, 'both copies done');
    expect(done).toMatchObject({ copies: 2, copiesDone: 2, activePrinterIds: [] });
    const sent = projectFiles(sim);
    expect(sent).toHaveLength(2);
    expect(sent[0].print.subtask_id).not.toBe(sent[1].print.subtask_id);
    expect(startedAt[1]! - finishedAt[0]!).toBeGreaterThanOrEqual(950);
    // The upload record survived the crash: copy 2 reused the file already on the printer.
    expect(sim.files().filter((f) => f.name.endsWith('.3mf'))).toHaveLength(1);
    const finished = await events(s, 'job.finished');
    expect(finished.map((e) => e.data.jobId).sort()).toEqual(sent.map((c) => c.print.subtask_id).sort());
    expect(await events(s, 'job.failed')).toEqual([]);
  });

  it('the print finishes while the server is down: counted as done on restart, neither re-sent nor lost', async () => {
    const { s, sim, printerId, fileId } = await setup();
    const added = await s.api('POST', '/api/v1/queue', { fileId, copies: 2 });
    const itemId = added.body.id as string;
    await waitFor(() => sim.gcodeState === 'RUNNING', 'copy 1 printing');
    await s.kill9();
    sim.finishNow();
    expect(sim.gcodeState).toBe('FINISH');
    const firstJobId = projectFiles(sim)[0].print.subtask_id as string;

    await s.start();
    const counted = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.copiesDone === 1 && item;
    }, 'the copy finished during the downtime is counted');
    expect(counted).toMatchObject({ copiesDone: 1, lastError: null });
    expect(projectFiles(sim)).toHaveLength(1);

    // Copy 2 goes out with a new job id; the finished one is not sent again.
    await waitFor(() => projectFiles(sim).length === 2, 'copy 2 sent');
    expect(projectFiles(sim)[1].print.subtask_id).not.toBe(firstJobId);
    await waitFor(() => sim.gcodeState === 'RUNNING', 'copy 2 printing');
    sim.finishNow();
    const done = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.status === 'done' && item;
    }, 'item done');
    expect(done.copiesDone).toBe(2);
    expect(projectFiles(sim)).toHaveLength(2);
    const finished = await events(s, 'job.finished');
    expect(finished.map((e) => e.data.jobId)).toContain(firstJobId);
    expect(finished).toHaveLength(2);
    expect((await s.printerState(printerId)).status).toBe('idle');
  });

  it('killed the instant the start command reaches the printer: adopted by job id, never sent twice', async () => {
    const { s, sim, printerId, fileId } = await setup();
    // The hardest window: the job is written as `starting`, the command is on the printer, and the
    // server dies before it sees any confirmation.
    sim.on('command', (c: any) => {
      if (c.print?.command === 'project_file') s.killNow();
    });
    const added = await s.api('POST', '/api/v1/queue', { fileId, copies: 1 });
    const itemId = added.body.id as string;
    await waitFor(() => projectFiles(sim).length === 1, 'start command on the printer');
    await s.kill9();
    const jobId = projectFiles(sim)[0].print.subtask_id as string;
    expect(['PREPARE', 'RUNNING']).toContain(sim.gcodeState);

    await s.start();
    const shown = await waitFor(async () => {
      const st = await s.printerState(printerId);
      return (st.status === 'preparing' || st.status === 'printing') && st.job?.queueItemId === itemId && st;
    }, 'the restarted server follows the job on the printer');
    expect(shown.job.queueItemId).toBe(itemId);
    expect(projectFiles(sim)).toHaveLength(1);
    expect(sim.status.subtask_id).toBe(jobId);

    await waitFor(() => sim.gcodeState === 'RUNNING', 'printing');
    sim.finishNow();
    const done = await waitFor(async () => {
      const item = await itemOf(s, itemId);
      return item.status === 'done' && item;
    }, 'item done');
    expect(done).toMatchObject({ copiesDone: 1, lastError: null });
    expect(projectFiles(sim)).toHaveLength(1);
    const finished = await events(s, 'job.finished');
    expect(finished.map((e) => e.data.jobId)).toEqual([jobId]);
    const alerts = (await events(s, 'alert')).map((e) => e.data.code);
    expect(alerts).not.toContain('job_outcome_unknown');
    expect(alerts).not.toContain('start_not_confirmed');
  });
});
