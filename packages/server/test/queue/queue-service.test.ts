import path from 'node:path';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DriverError, StartNotConfirmedError } from '../../src/printers/driver.ts';
import { type Harness, fileRecord, harness, jobRows } from './helpers.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function setup(printers: string[] = ['p1'], settings: Record<string, unknown> = {}) {
  h = await harness();
  for (const id of printers) h.fleet.add(id, { settings });
  h.library.add(fileRecord('f1'));
  await h.queue.start();
  return h;
}

/** The printer reports the job it was given: running, then finished (lastJob at now). */
function printerRuns(id: string, jobId: string) {
  h.fleet.setState(id, {
    status: 'printing',
    fullStatus: true,
    job: { jobId, fileName: 'f1.gcode.3mf', plate: 1 },
    remainingSeconds: 500,
  });
}
function printerFinishes(id: string, jobId: string, outcome: 'finished' | 'failed' | 'cancelled' = 'finished') {
  h.fleet.setState(id, {
    status: 'idle',
    job: null,
    remainingSeconds: null,
    lastJob: { jobId, outcome, at: h.clock.now() },
  });
}

describe('QueueService: items', () => {
  it('adds an item with the seed defaults and persists it', async () => {
    await setup();
    await h.queue.setRunning(false);
    const item = await h.queue.addItem({ fileId: 'f1', copies: 2 });
    expect(item).toMatchObject({
      fileId: 'f1',
      fileName: 'f1.gcode.3mf',
      plate: 1,
      copies: 2,
      copiesDone: 0,
      status: 'waiting',
      position: 1,
      overrides: { bedLeveling: true, flowCalibration: true, timelapse: false },
      printerIds: null,
      estimatedSeconds: 600,
      thumbnailUrl: '/api/v1/files/f1/plates/1/thumbnail',
    });
    const rows = await h.storage.db.selectFrom('queue_items').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.overrides_json)).toEqual({ bedLeveling: true, flowCalibration: true, timelapse: false });
  });

  it('every change is one queue.changed event', async () => {
    await setup();
    await h.queue.setRunning(false);
    const before = h.eventsOf('queue.changed').length;
    const a = await h.queue.addItem({ fileId: 'f1' });
    const b = await h.queue.addItem({ fileId: 'f1' });
    await h.queue.updateItem(a.id, { copies: 3, overrides: { timelapse: true } });
    await h.queue.reorder([b.id, a.id]);
    await h.queue.removeItem(b.id);
    await h.queue.clear();
    expect(h.eventsOf('queue.changed').length - before).toBe(6);
    expect(h.queue.getQueue().items).toEqual([]);
  });

  it('reorders, edits and rejects bad input with the field named', async () => {
    await setup(['p1']);
    await h.queue.setRunning(false);
    const a = await h.queue.addItem({ fileId: 'f1' });
    const b = await h.queue.addItem({ fileId: 'f1' });
    const c = await h.queue.addItem({ fileId: 'f1' });
    await h.queue.reorder([c.id, a.id]);
    expect(h.queue.getQueue().items.map((i) => i.id)).toEqual([c.id, b.id, a.id]);
    const edited = await h.queue.updateItem(b.id, { overrides: { bedLeveling: false }, printerIds: ['p1'] });
    expect(edited.overrides).toEqual({ bedLeveling: false, flowCalibration: true, timelapse: false });
    expect(edited.printerIds).toEqual(['p1']);
    await expect(h.queue.addItem({ fileId: 'nope' })).rejects.toMatchObject({ kind: 'not_found' });
    await expect(h.queue.addItem({ fileId: 'f1', plate: 3 })).rejects.toMatchObject({
      kind: 'invalid',
      message: expect.stringMatching(/^plate:/),
    });
    await expect(h.queue.addItem({ fileId: 'f1', printerIds: ['ghost'] })).rejects.toMatchObject({
      kind: 'invalid',
      message: expect.stringMatching(/^printerIds:/),
    });
    await expect(h.queue.updateItem('nope', { copies: 2 })).rejects.toMatchObject({ kind: 'not_found' });
    await expect(h.queue.reorder([a.id, a.id])).rejects.toMatchObject({ kind: 'invalid' });
    await expect(h.queue.reorder(['nope'])).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('refuses a printer whose model does not fit the file', async () => {
    h = await harness();
    h.fleet.add('x1', { model: 'X1 Carbon' });
    h.library.add(fileRecord('f1'));
    await h.queue.start();
    await expect(h.queue.addItem({ fileId: 'f1', printerIds: ['x1'] })).rejects.toMatchObject({ kind: 'invalid' });
  });

  it('the running switch survives a restart', async () => {
    await setup();
    expect(h.queue.getQueue().running).toBe(true);
    await h.queue.setRunning(false);
    await h.restart();
    expect(h.queue.getQueue().running).toBe(false);
  });
});

describe('QueueService: dispatch', () => {
  it('marks a job sent right before its start command: at the hook for drivers that announce it, before startJob otherwise', async () => {
    await setup();
    const driver = h.fleet.driver('p1');
    const sentAtStart: unknown[] = [];
    const sentAtHook: unknown[] = [];
    const readSent = () => {
      const reader = new SQLite(path.join(h.dataDir, 'rwc.sqlite'), { readonly: true });
      const rows = reader.prepare('SELECT sent_at FROM jobs').all() as { sent_at: string | null }[];
      reader.close();
      return rows.map((r) => r.sent_at !== null);
    };
    // A driver without the hook: the queue assumes the worst and marks it before startJob.
    driver.onStart = () => sentAtStart.push(readSent());
    await h.queue.addItem({ fileId: 'f1' });
    for (let i = 0; i < 20 && driver.starts.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(sentAtStart).toEqual([[true]]);

    // A driver that announces it (Bambu, Moonraker): nothing is marked until the hook runs.
    await h.close();
    await setup();
    const d2 = h.fleet.driver('p1');
    Object.assign(d2, { announcesStartCommand: true });
    d2.behaviour = async (req) => {
      sentAtStart.push(readSent());
      await req.beforeStartCommand!();
      sentAtHook.push(readSent());
    };
    await h.queue.addItem({ fileId: 'f1' });
    for (let i = 0; i < 50 && sentAtHook.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(sentAtStart.at(-1)).toEqual([false]);
    expect(sentAtHook).toEqual([[true]]);
  });

  it('writes the job as starting before startJob is called, then printing on confirmation', async () => {
    await setup();
    const driver = h.fleet.driver('p1');
    driver.behaviour = 'manual';
    const seen: unknown[] = [];
    driver.onStart = (req) => {
      // A separate connection reads the SQLite file at the very moment the start goes out.
      const reader = new SQLite(path.join(h.dataDir, 'rwc.sqlite'), { readonly: true });
      seen.push(reader.prepare('SELECT status, job_id FROM jobs').all());
      reader.close();
      void req;
    };
    const item = await h.queue.addItem({ fileId: 'f1' });
    for (let i = 0; i < 20 && driver.starts.length === 0; i++) await new Promise((r) => setImmediate(r));
    expect(driver.starts).toHaveLength(1);
    const req = driver.starts[0]!;
    expect(Number(req.jobId)).toBeGreaterThan(0);
    expect(Number(req.jobId)).toBeLessThan(2 ** 31);
    expect(req).toMatchObject({
      localPath: '/data/files/f1',
      fileName: 'f1.gcode.3mf',
      fileMd5: 'cd'.repeat(16),
      plate: 1,
      gcodePath: 'Metadata/plate_1.gcode',
      overrides: { bedLeveling: true, flowCalibration: true, timelapse: false },
    });
    expect(seen).toEqual([[{ status: 'starting', job_id: req.jobId }]]);
    let rows = await jobRows(h);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'starting', job_id: req.jobId, printer_id: 'p1', queue_item_id: item.id });
    expect(h.queue.gateFor('p1')).toMatchObject({ open: false, code: 'command_in_flight', reason: 'a start command is in flight' });
    expect(h.eventsOf('job.started')).toHaveLength(0);
    driver.settleStart();
    await h.idle();
    rows = await jobRows(h);
    expect(rows[0]!.status).toBe('printing');
    expect(h.eventsOf('job.started').map((e) => e.data)).toEqual([
      { printerId: 'p1', queueItemId: item.id, jobId: req.jobId, fileName: 'f1.gcode.3mf' },
    ]);
    expect(h.queue.queueItemIdFor('p1')).toBe(item.id);
    expect(h.queue.getItem(item.id)).toMatchObject({ status: 'printing', currentPrinterId: 'p1' });
  });

  it('finish counts the copy, starts the cooldown, and the next copy goes after it', async () => {
    await setup();
    const driver = h.fleet.driver('p1');
    const item = await h.queue.addItem({ fileId: 'f1', copies: 2 });
    await h.idle();
    const first = driver.starts[0]!.jobId;
    printerRuns('p1', first);
    h.clock.advance(61_000);
    printerFinishes('p1', first);
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ copiesDone: 1, status: 'waiting' });
    expect(h.eventsOf('job.finished')).toHaveLength(1);
    expect(h.queue.gateFor('p1')).toMatchObject({ open: false, code: 'cooling_down', reason: 'plate-swap cooldown, 90 s left' });
    expect(h.queue.cooldownUntil('p1')).toBe(new Date(h.clock.now() + 90_000).toISOString());
    h.clock.advance(89_000);
    await h.idle();
    expect(driver.starts).toHaveLength(1);
    h.clock.advance(1_000);
    await h.idle();
    expect(driver.starts).toHaveLength(2);
    expect(driver.starts[1]!.jobId).not.toBe(first);
    printerRuns('p1', driver.starts[1]!.jobId);
    h.clock.advance(61_000);
    printerFinishes('p1', driver.starts[1]!.jobId);
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ copiesDone: 2, status: 'done' });
    const rows = await jobRows(h);
    expect(rows.map((r) => r.status)).toEqual(['finished', 'finished']);
  });

  it('failure with policy "retry": the copy goes back to waiting, with an alert; the failed printer pauses the queue', async () => {
    await setup();
    await h.queue.updateSettings({ failedCopyPolicy: 'retry' });
    const item = await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    printerRuns('p1', jobId);
    printerFinishes('p1', jobId, 'failed');
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ status: 'waiting', copiesDone: 0 });
    expect(h.eventsOf('job.failed')).toHaveLength(1);
    expect(h.eventsOf('alert').map((e) => (e.data as any).code)).toEqual(
      expect.arrayContaining(['job_failed', 'queue_paused_printer_error']),
    );
    expect(h.eventsOf('alert').find((e) => (e.data as any).code === 'job_failed')?.data).toMatchObject({
      level: 'warning',
      printerId: 'p1',
    });
    // A printer that failed a job stops the queue until a person looks; then the copy is retried.
    h.clock.advance(91_000);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    expect(h.queue.running).toBe(false);
    await h.queue.setRunning(true);
    h.clock.advance(1_000);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
  });

  it('failure with policy "fail": the item is marked failed and not sent again; editing requeues it', async () => {
    await setup();
    await h.queue.updateSettings({ failedCopyPolicy: 'fail' });
    const item = await h.queue.addItem({ fileId: 'f1', copies: 2 });
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    printerRuns('p1', jobId);
    printerFinishes('p1', jobId, 'cancelled');
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ status: 'failed', lastError: 'cancelled on the printer' });
    h.clock.advance(200_000);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    await h.queue.updateItem(item.id, {});
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
  });

  it('a start that is not confirmed: job unknown, alert, gate closed until a fresh full report shows idle', async () => {
    await setup(['p1']);
    const driver = h.fleet.driver('p1');
    driver.behaviour = async () => {
      throw new StartNotConfirmedError();
    };
    const item = await h.queue.addItem({ fileId: 'f1', copies: 2 });
    await h.idle();
    expect(driver.starts).toHaveLength(1);
    expect((await jobRows(h))[0]!.status).toBe('unknown');
    expect(h.eventsOf('alert').at(-1)?.data).toMatchObject({
      level: 'error',
      printerId: 'p1',
      code: 'start_not_confirmed',
    });
    expect(h.queue.gateFor('p1')).toMatchObject({ open: false, code: 'start_not_confirmed', reason: 'start not confirmed — check the printer' });
    // Idle reports on the same connection do not open it, and time alone does not either.
    h.fleet.setState('p1', { status: 'idle' });
    h.clock.advance(600_000);
    await h.idle();
    expect(driver.starts).toHaveLength(1);
    expect(h.queue.getItem(item.id).status).toBe('waiting');
    // A reconnect followed by a full report showing idle opens it.
    driver.behaviour = 'confirm';
    h.fleet.setState('p1', { status: 'connecting', fullStatus: false });
    h.fleet.setState('p1', { status: 'idle', fullStatus: true });
    await h.idle();
    expect(driver.starts).toHaveLength(2);
    expect(driver.starts[1]!.jobId).not.toBe(driver.starts[0]!.jobId);
  });

  it('a start not confirmed: stale reports that come back fresh and idle also open the gate', async () => {
    await setup(['p1']);
    const driver = h.fleet.driver('p1');
    driver.behaviour = async () => {
      throw new StartNotConfirmedError();
    };
    await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    driver.behaviour = 'confirm';
    h.fleet.setState('p1', { status: 'unknown', stale: true });
    await h.idle();
    expect(h.queue.gateFor('p1').reason).toBe('status reports are stale');
    h.fleet.setState('p1', { status: 'idle', stale: false });
    await h.idle();
    expect(driver.starts).toHaveLength(2);
  });

  it('a start not confirmed that turns out to be running is adopted', async () => {
    await setup(['p1']);
    const driver = h.fleet.driver('p1');
    driver.behaviour = async () => {
      throw new StartNotConfirmedError();
    };
    const item = await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    printerRuns('p1', driver.starts[0]!.jobId);
    await h.idle();
    expect((await jobRows(h))[0]!.status).toBe('printing');
    expect(h.queue.getItem(item.id).status).toBe('printing');
    printerFinishes('p1', driver.starts[0]!.jobId);
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ status: 'done', copiesDone: 1 });
  });

  it('a start that fails before going out is retried later, not at once', async () => {
    await setup(['p1']);
    await h.queue.updateSettings({ failedCopyPolicy: 'retry' });
    const driver = h.fleet.driver('p1');
    driver.behaviour = async () => {
      throw new DriverError('upload_failed', 'FTPS upload failed');
    };
    await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    expect(h.queue.gateFor('p1').reason).toBe('last start failed (FTPS upload failed), retry in 60 s');
    h.clock.advance(30_000);
    await h.idle();
    expect(driver.starts).toHaveLength(1);
    driver.behaviour = 'confirm';
    h.clock.advance(31_000);
    await h.idle();
    expect(driver.starts).toHaveLength(2);
  });

  it('a job that vanishes (printer idle without its job or an end record, after the hold) fails', async () => {
    await setup(['p1']);
    await h.queue.updateSettings({ failedCopyPolicy: 'retry' });
    const item = await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    printerRuns('p1', jobId);
    // Within the post-dispatch hold an idle report is not trusted to mean anything.
    h.fleet.setState('p1', { status: 'idle', job: null });
    await h.idle();
    expect((await jobRows(h))[0]!.status).toBe('printing');
    h.clock.advance(61_000);
    // The printer rebooted mid-print: it comes back idle with no memory of the job.
    h.fleet.setState('p1', { status: 'connecting', fullStatus: false });
    h.fleet.setState('p1', { status: 'idle', fullStatus: true, job: null, lastJob: null });
    await h.idle();
    const row = (await jobRows(h))[0]!;
    expect(row).toMatchObject({ status: 'failed', error: 'the printer went idle without reporting how the job ended' });
    expect(h.queue.getItem(item.id).lastError).toBe('the printer went idle without reporting how the job ended');
  });

  it('a printer error during a queue print pauses the queue with an alert', async () => {
    await setup(['p1', 'p2']);
    await h.queue.addItem({ fileId: 'f1', copies: 3 });
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    printerRuns('p1', jobId);
    h.fleet.setState('p1', { status: 'paused', error: { code: '0300_8003', message: 'filament ran out' } });
    await h.idle();
    expect(h.queue.getQueue().running).toBe(false);
    expect(h.eventsOf('alert').find((e) => e.data.code === 'queue_paused_printer_error')?.data).toMatchObject({
      level: 'error',
      printerId: 'p1',
    });
    expect(h.queue.gateFor('p1').reason).toBe('printer error: filament ran out');
    // p2 took a copy before the error; after the pause nothing new starts.
    const p2Starts = h.fleet.driver('p2').starts.length;
    printerRuns('p2', h.fleet.driver('p2').starts[0]!.jobId);
    printerFinishes('p2', h.fleet.driver('p2').starts[0]!.jobId);
    h.clock.advance(300_000);
    await h.idle();
    expect(h.fleet.driver('p2').starts.length).toBe(p2Starts);
    await h.restart();
    expect(h.queue.getQueue().running).toBe(false);
  });

  it('two printers share one queue and an item with copies prints on both at once', async () => {
    await setup(['p1', 'p2']);
    const item = await h.queue.addItem({ fileId: 'f1', copies: 3 });
    const other = await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    expect(h.fleet.driver('p2').starts).toHaveLength(1);
    const q = h.queue.getQueue();
    expect(q.items[0]).toMatchObject({ id: item.id, status: 'printing' });
    expect(q.items[0]!.activePrinterIds.sort()).toEqual(['p1', 'p2']);
    expect(q.items[1]).toMatchObject({ id: other.id, status: 'waiting' });
    expect(q.remainingSeconds).toBe(4 * 600);
    // The third copy goes to whichever printer frees first; then the other item.
    const j1 = h.fleet.driver('p1').starts[0]!.jobId;
    printerRuns('p1', j1);
    h.clock.advance(61_000);
    printerFinishes('p1', j1);
    h.clock.advance(90_000);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
    expect(h.queue.getItem(item.id).activePrinterIds.sort()).toEqual(['p1', 'p2']);
  });

  it('plate clearing: a finished job closes the gate until the user confirms; the flag survives restarts', async () => {
    await setup(['p1'], { requirePlateClear: true, swapCooldownSeconds: 0 });
    await h.queue.addItem({ fileId: 'f1', copies: 2 });
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    printerRuns('p1', jobId);
    printerFinishes('p1', jobId);
    await h.idle();
    expect(h.queue.gateFor('p1').reason).toBe('waiting for the user to confirm the plate is clear');
    await h.restart();
    // The printer power-cycled: it boots idle without any memory of the finished job.
    h.fleet.setState('p1', { status: 'idle', lastJob: null });
    await h.idle();
    expect(h.queue.gateFor('p1').reason).toBe('waiting for the user to confirm the plate is clear');
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    const res = await h.queue.plateCleared('p1');
    expect(res.gate.open).toBe(true);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
    await expect(h.queue.plateCleared('ghost')).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('deleting a printing item needs cancel; cancel stops the print', async () => {
    await setup(['p1']);
    const item = await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    printerRuns('p1', h.fleet.driver('p1').starts[0]!.jobId);
    await expect(h.queue.removeItem(item.id)).rejects.toMatchObject({ kind: 'conflict' });
    await expect(h.queue.updateItem(item.id, { copies: 0 })).rejects.toMatchObject({ kind: 'invalid' });
    await h.queue.removeItem(item.id, { cancel: true });
    expect(h.fleet.driver('p1').cancels).toBe(1);
    expect((await jobRows(h))[0]!.status).toBe('cancelled');
    expect(h.queue.getQueue().items).toEqual([]);
  });

  it('a done item cannot be edited (409)', async () => {
    await setup(['p1']);
    const item = await h.queue.addItem({ fileId: 'f1' });
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    printerRuns('p1', jobId);
    printerFinishes('p1', jobId);
    await h.idle();
    await expect(h.queue.updateItem(item.id, { copies: 5 })).rejects.toMatchObject({ kind: 'conflict' });
  });

  it('ETA: per-item estimates spread over printers, including cooldowns', async () => {
    await setup(['p1', 'p2']);
    await h.queue.setRunning(false);
    const a = await h.queue.addItem({ fileId: 'f1', copies: 3 });
    const q = h.queue.getQueue();
    const now = h.clock.now();
    expect(q.remainingSeconds).toBe(1800);
    expect(q.finishAt).toBe(new Date(now + (600 + 90 + 600) * 1000).toISOString());
    expect(q.items[0]).toMatchObject({
      id: a.id,
      estimatedStartAt: new Date(now).toISOString(),
      estimatedFinishAt: q.finishAt,
    });
  });
});

describe('QueueService: restart reconciliation', () => {
  async function startOne() {
    await setup(['p1']);
    const item = await h.queue.addItem({ fileId: 'f1', copies: 2 });
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    return { item, jobId };
  }

  it('a printer showing the same job id: adopted and followed, not sent again', async () => {
    const { item, jobId } = await startOne();
    await h.restart(() => h.fleet.setState('p1', { status: 'connecting', fullStatus: false }));
    expect(h.queue.gateFor('p1').reason).toBe('connecting');
    printerRuns('p1', jobId);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    expect((await jobRows(h))[0]!.status).toBe('printing');
    printerFinishes('p1', jobId);
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ copiesDone: 1 });
  });

  it('a job still starting when the server stopped, shown running after: adopted', async () => {
    await setup(['p1']);
    const driver = h.fleet.driver('p1');
    driver.behaviour = 'manual';
    await h.queue.addItem({ fileId: 'f1' });
    for (let i = 0; i < 20 && driver.starts.length === 0; i++) await new Promise((r) => setImmediate(r));
    const jobId = driver.starts[0]!.jobId;
    // Simulate a crash: the start never resolves in this process.
    const stopped = h.queue.stop();
    driver.settleStart(new Error('process died'));
    await stopped;
    // Force the row back to `starting`, as a crash between write and confirmation leaves it.
    await h.storage.db.updateTable('jobs').set({ status: 'starting' }).execute();
    await h.restart(() => h.fleet.setState('p1', { status: 'offline', fullStatus: false }));
    driver.behaviour = 'confirm';
    expect(h.queue.gateFor('p1').open).toBe(false);
    printerRuns('p1', jobId);
    await h.idle();
    expect(driver.starts).toHaveLength(1);
    expect((await jobRows(h))[0]!.status).toBe('printing');
  });

  it('a printer whose last job is ours and finished: the copy is counted', async () => {
    const { item, jobId } = await startOne();
    await h.restart(() => h.fleet.setState('p1', { status: 'offline', fullStatus: false }));
    h.fleet.setState('p1', {
      status: 'idle',
      fullStatus: true,
      lastJob: { jobId, outcome: 'finished', at: h.clock.now() },
    });
    await h.idle();
    expect(h.queue.getItem(item.id)).toMatchObject({ copiesDone: 1 });
    expect((await jobRows(h))[0]!.status).toBe('finished');
  });

  it('anything else: job unknown, alert, item not re-sent, gate closed until the user confirms', async () => {
    const { item, jobId } = await startOne();
    await h.restart(() => h.fleet.setState('p1', { status: 'offline', fullStatus: false }));
    h.fleet.setState('p1', { status: 'idle', fullStatus: true, job: null, lastJob: null });
    await h.idle();
    expect((await jobRows(h))[0]!.status).toBe('unknown');
    expect(h.eventsOf('alert').at(-1)?.data).toMatchObject({
      level: 'error',
      printerId: 'p1',
      code: 'job_outcome_unknown',
    });
    expect(h.queue.gateFor('p1').reason).toContain(`job ${jobId}`);
    expect(h.queue.getItem(item.id).status).toBe('failed');
    h.clock.advance(600_000);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    // The flag is persisted: another restart keeps the gate closed.
    await h.restart();
    expect(h.queue.gateFor('p1').reason).toContain(`job ${jobId}`);
    await h.queue.plateCleared('p1');
    expect(h.queue.gateFor('p1').open).toBe(true);
  });
});

describe('database guards', () => {
  it('one printer can never hold two active jobs, and job ids are unique', async () => {
    await setup(['p1']);
    const base = {
      queue_item_id: 'x',
      printer_id: 'p1',
      status: 'starting',
      error: null,
      created_at: 'now',
      started_at: null,
      ended_at: null,
    };
    await h.storage.db
      .insertInto('jobs')
      .values({ ...base, id: 'd1', job_id: '11' })
      .execute();
    await expect(
      h.storage.db
        .insertInto('jobs')
        .values({ ...base, id: 'd2', job_id: '12', status: 'printing' })
        .execute(),
    ).rejects.toThrow(/UNIQUE/);
    await expect(
      h.storage.db
        .insertInto('jobs')
        .values({ ...base, id: 'd3', job_id: '11', printer_id: 'p2', status: 'finished' })
        .execute(),
    ).rejects.toThrow(/UNIQUE/);
    await h.storage.db
      .insertInto('jobs')
      .values({ ...base, id: 'd4', job_id: '13', status: 'finished' })
      .execute();
  });
});
