/**
 * "Why is nothing printing?" on the queue service with a real SQLite file: every waiting item's
 * reason, every idle printer's reason, unfittable items out of the ETA, the fit pre-check, plain
 * G-code sliced for a Bambu model, per-kind overrides and "print all plates".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { gateFamily } from '../../src/queue/wait-reasons.ts';
import { type Harness, fileRecord, harness } from '../queue/helpers.ts';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

const reasonOf = (id: string) => h.queue.getQueue().items.find((i) => i.id === id)!.waitingReason;
const idleOf = (printerId: string) => h.queue.getQueue().printers.find((p) => p.printerId === printerId)!.idleReason;

describe('waiting reasons', () => {
  it('an unfittable item says no_printer_fits, is answered 201-style, and stays out of the ETA', async () => {
    h = await harness();
    h.fleet.add('p1', { model: 'A1', state: { status: 'printing', remainingSeconds: 100 } });
    h.library.add(fileRecord('mini', {}, 900)); // sliced for A1 mini
    h.library.add(
      fileRecord('a1', {
        printerModel: 'A1',
        plates: [{ ...fileRecord('x', {}, 300).plates[0]!, printerModel: 'A1' }],
      }),
    );
    await h.queue.start();
    const bad = await h.queue.addItem({ fileId: 'mini' });
    expect(bad.waitingReason).toMatchObject({ code: 'no_printer_fits', params: { fileModel: 'A1 mini' } });
    expect(bad.estimatedStartAt).toBeNull();
    const good = await h.queue.addItem({ fileId: 'a1' });
    const q = h.queue.getQueue();
    // Only the fitting 300 s item counts; the 900 s unfittable one adds nothing.
    expect(q.remainingSeconds).toBe(300);
    expect(q.items.find((i) => i.id === good.id)!.estimatedStartAt).not.toBeNull();
    expect(q.items.find((i) => i.id === bad.id)!.estimatedFinishAt).toBeNull();
  });

  it('names the state of the fitting printers: busy, cooling down, plate clear wanted, unavailable, paused', async () => {
    h = await harness();
    h.fleet.add('p1', { state: { status: 'printing' } });
    h.library.add(fileRecord('f1'));
    await h.queue.start();
    const item = await h.queue.addItem({ fileId: 'f1' });
    expect(reasonOf(item.id)).toMatchObject({
      code: 'printers_busy',
      params: { printers: [{ printerId: 'p1', code: 'printer_busy' }] },
    });

    h.fleet.setState('p1', { status: 'offline' });
    expect(reasonOf(item.id)).toMatchObject({
      code: 'printers_unavailable',
      params: { printers: [{ code: 'offline' }] },
    });

    await h.queue.setRunning(false);
    h.fleet.setState('p1', { status: 'idle', lastJob: { jobId: null, outcome: 'finished', at: h.clock.now() } });
    expect(reasonOf(item.id)).toMatchObject({ code: 'queue_paused' });
    expect(idleOf('p1')).toMatchObject({ code: 'queue_paused' });

    // Cooling down after the last job (default 90 s), with the time it ends.
    await h.queue.setRunning(true);
    const r = reasonOf(item.id)!;
    expect(r.code).toBe('printers_cooling_down');
    expect(r.params.until).toBe(new Date(h.clock.now() + 90_000).toISOString());
    expect(idleOf('p1')).toMatchObject({ code: 'gate_closed', params: { gateCode: 'cooling_down', seconds: 90 } });
  });

  it('plate clear wanted, then null once the printer can take it', async () => {
    h = await harness();
    h.fleet.add('p1', { settings: { requirePlateClear: true, swapCooldownSeconds: 0 } });
    h.library.add(fileRecord('f1'));
    await h.queue.start();
    await h.queue.setRunning(false);
    const item = await h.queue.addItem({ fileId: 'f1', copies: 2 });
    await h.queue.setRunning(true);
    await h.idle();
    const jobId = h.fleet.driver('p1').starts[0]!.jobId;
    h.fleet.setState('p1', { status: 'printing', job: { jobId, fileName: null, plate: 1 } });
    h.fleet.setState('p1', {
      status: 'finished',
      job: null,
      lastJob: { jobId, outcome: 'finished', at: h.clock.now() },
    });
    await h.idle();
    expect(reasonOf(item.id)).toMatchObject({
      code: 'plate_clear_wanted',
      params: { printers: [{ printerId: 'p1' }] },
    });
    expect(idleOf('p1')).toMatchObject({ code: 'gate_closed', params: { gateCode: 'plate_clear_wanted' } });
    expect(h.queue.gateFor('p1')).toMatchObject({ open: false, code: 'plate_clear_wanted' });
    await h.queue.plateCleared('p1');
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(2);
    expect(reasonOf(item.id)).toBeNull();
  });

  it('a printer that needs a person (job outcome unknown) counts as waiting for the plate, not unavailable', () => {
    expect(gateFamily({ open: false, code: 'attention', reason: 'job 5 lost', params: {} })).toBe('plate');
    expect(gateFamily({ open: false, code: 'offline', reason: 'not connected', params: {} })).toBe('unavailable');
  });

  it('idle printers say why they get nothing: queue empty, nothing fits', async () => {
    h = await harness();
    h.fleet.add('p1', { model: 'X1C' });
    h.library.add(fileRecord('mini'));
    await h.queue.start();
    expect(idleOf('p1')).toMatchObject({ code: 'queue_empty' });
    expect(h.queue.idleReasonFor('p1')).toMatchObject({ code: 'queue_empty' });
    await h.queue.addItem({ fileId: 'mini', copies: 2 });
    expect(idleOf('p1')).toMatchObject({ code: 'nothing_fits', params: { waiting: 1 } });
    expect(h.queue.idleReasonFor('p1')).toMatchObject({ code: 'nothing_fits' });
  });

  it('a printer whose gate is open and that fits gets no idle reason and no item reason: it starts next round', async () => {
    h = await harness();
    h.fleet.add('p1', { settings: { swapCooldownSeconds: 0 } });
    h.library.add(fileRecord('f1'));
    await h.queue.start();
    await h.queue.setRunning(false);
    const item = await h.queue.addItem({ fileId: 'f1' });
    await h.queue.setRunning(true);
    // Decided synchronously in the same tick as the view: the round has not run yet.
    expect([null, 'printers_busy']).toContain(reasonOf(item.id)?.code ?? null);
    await h.idle();
    expect(h.fleet.driver('p1').starts).toHaveLength(1);
    expect(idleOf('p1')).toBeNull();
  });
});

describe('fit pre-check, G-code models, overrides, all plates', () => {
  it('POST /queue/fit answers per printer with the same reason the queue would show', async () => {
    h = await harness();
    h.fleet.add('mini', { model: 'A1 mini' });
    h.fleet.add('x1', { model: 'X1C' });
    h.library.add(fileRecord('f1'));
    await h.queue.start();
    const fit = await h.queue.checkFit({ fileId: 'f1' });
    expect(fit.fits).toBe(true);
    expect(fit.printers.map((p) => [p.printerId, p.fits, p.problem?.code ?? null])).toEqual([
      ['mini', true, null],
      ['x1', false, 'printer_model_mismatch'],
    ]);
    const only = await h.queue.checkFit({ fileId: 'f1', printerIds: ['x1'] });
    expect(only).toMatchObject({ fits: false, waitingReason: { code: 'no_printer_fits' } });
  });

  it('a G-code sliced for a Bambu A1 mini never goes to a G-code printer unless picked', async () => {
    h = await harness();
    h.fleet.add('marlin', { model: 'Ender 3', settings: { swapCooldownSeconds: 0 } });
    h.fleet.get('marlin')!.summary.fileKinds = ['gcode'];
    const plate = { ...fileRecord('x').plates[0]!, gcodePath: null, printerModel: 'Bambu Lab A1 mini' };
    h.library.add(
      fileRecord('g', { kind: 'gcode', name: 'cube.gcode', printerModel: 'Bambu Lab A1 mini', plates: [plate] }),
    );
    await h.queue.start();
    await h.queue.setRunning(false);
    const pooled = await h.queue.addItem({ fileId: 'g' });
    expect(pooled.waitingReason).toMatchObject({
      code: 'no_printer_fits',
      params: { printers: [{ printerId: 'marlin', code: 'printer_model_mismatch' }] },
    });
    const picked = await h.queue.addItem({ fileId: 'g', printerIds: ['marlin'] });
    expect(picked.waitingReason).toMatchObject({ code: 'queue_paused' });
    await h.queue.setRunning(true);
    await h.idle();
    const starts = h.fleet.driver('marlin').starts;
    expect(starts).toHaveLength(1);
    expect(h.queue.getQueue().items.find((i) => i.id === picked.id)!.status).toBe('printing');
    expect(h.queue.getQueue().items.find((i) => i.id === pooled.id)!.status).toBe('waiting');
  });

  it('overrides a G-code printer ignores are refused for it and not offered', async () => {
    h = await harness();
    h.fleet.add('marlin', { model: null, settings: { nozzleDiameter: 0.4 } });
    h.fleet.get('marlin')!.summary.fileKinds = ['gcode'];
    h.library.add(
      fileRecord('g', {
        kind: 'gcode',
        name: 'cube.gcode',
        printerModel: null,
        plates: [{ ...fileRecord('x').plates[0]!, printerModel: null }],
      }),
    );
    await h.queue.start();
    await expect(
      h.queue.addItem({ fileId: 'g', printerIds: ['marlin'], overrides: { timelapse: true } }),
    ).rejects.toMatchObject({
      kind: 'invalid',
      code: 'override_unsupported',
      params: { overrides: ['timelapse'] },
    });
    // Defaults are fine (a UI may send them all), and the pre-check lists what the printer honours.
    await expect(
      h.queue.addItem({ fileId: 'g', printerIds: ['marlin'], overrides: { bedLeveling: true } }),
    ).resolves.toBeTruthy();
    const fit = await h.queue.checkFit({ fileId: 'g' });
    expect(fit.printers[0]!.supportedOverrides).toEqual([]);
  });

  it('print all plates queues every plate of the file in one call', async () => {
    h = await harness();
    h.fleet.add('p1');
    const base = fileRecord('x').plates[0]!;
    h.library.add(
      fileRecord('multi', {
        plates: [
          { ...base, index: 2 },
          { ...base, index: 1 },
          { ...base, index: 3 },
        ],
      }),
    );
    await h.queue.start();
    await h.queue.setRunning(false);
    const items = await h.queue.addAllPlates({ fileId: 'multi', copies: 2 });
    expect(items.map((i) => [i.plate, i.copies])).toEqual([
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
    expect(h.queue.getQueue().items).toHaveLength(3);
  });
});
