/**
 * Operator's day on a mixed fleet over real sockets (Bambu, Marlin and Moonraker simulators): a
 * G-code sliced for an A1 mini never goes to a Marlin/Klipper printer unless picked; Marlin/Klipper
 * offer no Bambu overrides; one copy is cancelled on Klipper and the item goes on; the history
 * lists it with who cancelled it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type MixedFleet, plainGcode, startMixedFleet, waitFor } from '../e2e/mixed-fleet-helpers.ts';

let f: MixedFleet | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

describe('mixed fleet: operator actions', () => {
  it('model-matched G-code, per-kind overrides, and a one-copy cancel on Klipper', async () => {
    f = await startMixedFleet({ moonraker: { printSeconds: 600 } });
    const { marlin, moonraker, bambu } = f;
    const printers = (await f.api('GET', '/api/v1/printers')).body as any[];
    expect(printers.find((p) => p.id === marlin.id).supportedOverrides).toEqual([]);
    expect(printers.find((p) => p.id === moonraker.id).supportedOverrides).toEqual([]);
    expect(printers.find((p) => p.id === bambu.id).supportedOverrides).toEqual([
      'bedLeveling',
      'flowCalibration',
      'timelapse',
    ]);

    await f.api('POST', '/api/v1/queue/pause');
    const bambuGcode = plainGcode(20).replace(
      ';TARGET_MACHINE.NAME:Creality Ender-3',
      '; printer_model = Bambu Lab A1 mini',
    );
    const miniFile = await f.upload('mini.gcode', bambuGcode);
    const fit = (await f.api('POST', '/api/v1/queue/fit', { fileId: miniFile })).body;
    expect(fit).toMatchObject({ fits: false, waitingReason: { code: 'no_printer_fits' } });
    const pooled = await f.api('POST', '/api/v1/queue', { fileId: miniFile });
    expect(pooled.status).toBe(201);
    expect(pooled.body.waitingReason.code).toBe('no_printer_fits');
    const refused = await f.api('POST', '/api/v1/queue', {
      fileId: miniFile,
      printerIds: [marlin.id],
      overrides: { timelapse: true },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error ?? refused.body).toMatchObject({ code: 'override_unsupported' });
    const picked = (await f.api('POST', '/api/v1/queue', { fileId: miniFile, printerIds: [marlin.id] })).body;
    expect(picked.waitingReason.code).toBe('queue_paused');

    const ring = await f.upload('ring.gcode', plainGcode(20));
    const item = (await f.api('POST', '/api/v1/queue', { fileId: ring, copies: 2, printerIds: [moonraker.id] })).body;
    await f.api('DELETE', `/api/v1/queue/${pooled.body.id}`);
    await f.api('POST', '/api/v1/queue/start');

    const printing = await waitFor(async () => {
      const q = (await f!.api('GET', '/api/v1/queue')).body;
      const it = q.items.find((i: any) => i.id === item.id);
      return it?.activeJobs.length === 1 && it.activeJobs[0].status === 'printing' && it;
    }, 'a copy printing on Klipper');
    await waitFor(async () => (await f!.status(moonraker.id)) === 'printing', 'Klipper printing');
    const cancel = await f.api('POST', `/api/v1/jobs/${printing.activeJobs[0].id}/cancel`, { scope: 'copy' });
    expect(cancel.status).toBe(200);
    expect(cancel.body.job).toMatchObject({ outcome: 'cancelled', cancelledBy: 'admin' });
    expect(cancel.body.item).toMatchObject({ copiesCancelled: 1 });
    // The printer really stopped (the simulator refuses a start while it prints), and the item goes
    // on with its other copy on the same printer.
    await waitFor(
      async () => {
        const q = (await f!.api('GET', '/api/v1/queue')).body;
        const it = q.items.find((i: any) => i.id === item.id);
        return it?.activeJobs.length === 1 && it.activeJobs[0].id !== printing.activeJobs[0].id;
      },
      'the second copy started',
      20_000,
    );
    // The Bambu-sliced G-code went to the Marlin printer that was picked, never to Klipper.
    await waitFor(
      () => f!.wsEvents.some((e) => e.type === 'job.started' && e.data.queueItemId === picked.id),
      'the picked Marlin starts the A1 mini G-code',
    );
    const started = f.wsEvents.filter((e) => e.type === 'job.started' && e.data.queueItemId === picked.id);
    expect(started.map((e) => e.data.printerId)).toEqual([marlin.id]);
    const history = (await f.api('GET', `/api/v1/jobs?printerId=${moonraker.id}`)).body;
    expect(history.items[0]).toMatchObject({
      outcome: 'cancelled',
      cancelledBy: 'admin',
      fileName: 'ring.gcode',
      printerName: 'Voron (Klipper)',
    });
  }, 60_000);
});
