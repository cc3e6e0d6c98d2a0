/**
 * Issue "Marlin (USB serial) and Klipper (Moonraker) printers in the same farm", end to end over
 * real sockets: one queue feeding a Bambu, a Marlin and a Moonraker simulator at once, and the
 * faults of the two new printer kinds pausing the queue with an alert.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type MixedFleet, plainGcode, read3mfFixture, startMixedFleet, waitFor } from './mixed-fleet-helpers.ts';

let f: MixedFleet | null = null;
afterEach(async () => {
  await f?.close();
  f = null;
});

const queueOf = async (fleet: MixedFleet) => (await fleet.api('GET', '/api/v1/queue')).body;

async function alertsFromLog(fleet: MixedFleet, printerId: string) {
  const res = await fleet.api('GET', `/api/v1/events?type=alert&printerId=${printerId}`);
  return res.body as Array<{ type: string; printerId: string | null; data: any }>;
}

describe('mixed fleet: Bambu + Marlin + Moonraker on one queue', () => {
  it('prints on all three at once, each file only on the printers that can print it, every copy done', async () => {
    f = await startMixedFleet();
    const { bambu, marlin, moonraker } = f;
    const threeMf = await f.upload('cube.gcode.3mf', read3mfFixture());
    const gcode = await f.upload('ring.gcode', plainGcode(300));
    const gcodeFile = (await f.api('GET', `/api/v1/files/${gcode}`)).body;
    expect(gcodeFile.plates[0].estimatedSeconds).toBe(600);

    const threeMfItem = (await f.api('POST', '/api/v1/queue', { fileId: threeMf, copies: 2 })).body;
    const gcodeItem = (await f.api('POST', '/api/v1/queue', { fileId: gcode, copies: 4 })).body;
    expect((await f.api('POST', '/api/v1/queue/start')).body).toEqual({ running: true });

    // All three printing at the same moment (read from the public API).
    const ids = [bambu.id, marlin.id, moonraker.id];
    await waitFor(async () => {
      const statuses = await Promise.all(ids.map((id) => f!.status(id)));
      return statuses.every((s) => s === 'printing');
    }, 'all three printers printing at once', 20_000);

    await waitFor(
      async () => (await queueOf(f!)).items.every((i: any) => i.status === 'done'),
      'every item done',
      45_000,
    );
    const q = await queueOf(f);
    expect(q.items.find((i: any) => i.id === threeMfItem.id)).toMatchObject({ copiesDone: 2, status: 'done' });
    expect(q.items.find((i: any) => i.id === gcodeItem.id)).toMatchObject({ copiesDone: 4, status: 'done' });

    // Who printed what, as the WebSocket client saw it.
    const started = f.wsEvents.filter((e) => e.type === 'job.started').map((e) => e.data);
    const finished = f.wsEvents.filter((e) => e.type === 'job.finished').map((e) => e.data);
    expect(started).toHaveLength(6);
    expect(finished).toHaveLength(6);
    expect(f.wsEvents.filter((e) => e.type === 'job.failed')).toHaveLength(0);
    const printersOf = (itemId: string) => new Set(started.filter((s) => s.queueItemId === itemId).map((s) => s.printerId));
    expect(printersOf(threeMfItem.id)).toEqual(new Set([bambu.id]));
    const gcodePrinters = printersOf(gcodeItem.id);
    expect(gcodePrinters.has(bambu.id)).toBe(false);
    expect(gcodePrinters).toEqual(new Set([marlin.id, moonraker.id]));

    // And on the wire: the Bambu got two project_file commands, Moonraker only .gcode uploads,
    // Marlin streamed the G1 moves of the plain file.
    const projectFiles = bambu.sim.receivedCommands.filter((c: any) => c.print?.command === 'project_file');
    expect(projectFiles).toHaveLength(2);
    const uploaded = [...moonraker.sim.files.keys()];
    expect(uploaded.length).toBeGreaterThan(0);
    expect(uploaded.every((name) => name.endsWith('.gcode'))).toBe(true);
    const marlinJobs = started.filter((s) => s.printerId === marlin.id).length;
    expect(marlinJobs).toBeGreaterThan(0);
    expect(marlin.sim.commandLog.filter((l) => /^G1 X/.test(l)).length).toBeGreaterThanOrEqual(300 * marlinJobs);
    for (const id of ids) expect(await f.status(id)).toBe('idle');
  }, 60_000);
});

describe('mixed fleet: faults of the new printer kinds', () => {
  it('a fatal Marlin error mid-print: printer error, queue paused, alert', async () => {
    // A slow Marlin so the print is surely mid-way when the firmware halts.
    f = await startMixedFleet({ marlin: { timeScale: 0.2 } });
    const { marlin } = f;
    const gcode = await f.upload('ring.gcode', plainGcode(300));
    await f.api('POST', '/api/v1/queue', { fileId: gcode, copies: 3, printerIds: [marlin.id] });
    await f.api('POST', '/api/v1/queue/start');
    await waitFor(async () => (await f!.status(marlin.id)) === 'printing', 'Marlin printing');
    await waitFor(() => marlin.sim.commandLog.some((l) => /^G1 X/.test(l)), 'moves streamed');

    marlin.sim.emitFatal('kill');

    await waitFor(async () => (await f!.status(marlin.id)) === 'error', 'Marlin error');
    const p = (await f.api('GET', `/api/v1/printers/${marlin.id}`)).body;
    expect(p.state.error.message).toMatch(/kill\(\) called/);
    await waitFor(async () => (await queueOf(f!)).running === false, 'queue paused');
    const alert = await waitFor(
      () => f!.wsEvents.find((e) => e.type === 'alert' && e.data.code === 'queue_paused_printer_error'),
      'alert on the WebSocket',
    );
    expect(alert.data).toMatchObject({ level: 'error', printerId: marlin.id });
    const logged = await waitFor(
      async () => (await alertsFromLog(f!, marlin.id)).find((a) => a.data.code === 'queue_paused_printer_error'),
      'alert in the event log',
    );
    expect(logged.printerId).toBe(marlin.id);
    // The copy that was printing failed (default failed-copy policy: the item is marked failed);
    // nothing else went out.
    await waitFor(() => f!.wsEvents.some((e) => e.type === 'job.failed'), 'job.failed');
    expect(f.wsEvents.filter((e) => e.type === 'job.started')).toHaveLength(1);
    expect(f.wsEvents.filter((e) => e.type === 'job.failed')).toHaveLength(1);
    const item = (await queueOf(f)).items[0];
    expect(item).toMatchObject({ status: 'failed', copiesDone: 0 });
    expect(item.lastError).toMatch(/failed|kill/);
  }, 30_000);

  it('a Klipper shutdown mid-print: printer error, queue paused, alert', async () => {
    f = await startMixedFleet({ moonraker: { printSeconds: 600 } });
    const { moonraker } = f;
    const gcode = await f.upload('ring.gcode', plainGcode(50));
    await f.api('POST', '/api/v1/queue', { fileId: gcode, copies: 2, printerIds: [moonraker.id] });
    await f.api('POST', '/api/v1/queue/start');
    await waitFor(async () => (await f!.status(moonraker.id)) === 'printing', 'Moonraker printing');

    moonraker.sim.shutdown('Heater extruder not heating at expected rate');

    await waitFor(async () => (await f!.status(moonraker.id)) === 'error', 'Moonraker error');
    const p = (await f.api('GET', `/api/v1/printers/${moonraker.id}`)).body;
    expect(p.state.error).toMatchObject({ code: 'klippy_shutdown' });
    await waitFor(async () => (await queueOf(f!)).running === false, 'queue paused');
    const alert = await waitFor(
      async () => (await alertsFromLog(f!, moonraker.id)).find((a) => a.data.code === 'queue_paused_printer_error'),
      'alert in the event log',
    );
    expect(alert.data.level).toBe('error');
    expect(f.wsEvents.some((e) => e.type === 'alert' && e.data.printerId === moonraker.id)).toBe(true);
    expect(f.wsEvents.filter((e) => e.type === 'job.started')).toHaveLength(1);
  }, 30_000);

  it('a Moonraker disconnect: the driver reconnects and the printer comes back', async () => {
    f = await startMixedFleet({ moonraker: { printSeconds: 600 } });
    const { moonraker } = f;
    const gcode = await f.upload('ring.gcode', plainGcode(50));
    await f.api('POST', '/api/v1/queue', { fileId: gcode, copies: 1, printerIds: [moonraker.id] });
    await f.api('POST', '/api/v1/queue/start');
    await waitFor(async () => (await f!.status(moonraker.id)) === 'printing', 'Moonraker printing');
    const accepted = moonraker.sim.connectionsAccepted;

    moonraker.sim.dropConnections();

    await waitFor(
      () => f!.wsEvents.some((e) => e.type === 'printer.state' && e.data.printerId === moonraker.id && e.data.state.status === 'connecting'),
      'the drop seen as connecting',
    );
    await waitFor(() => moonraker.sim.connectionsAccepted > accepted, 'a new websocket connection');
    // Still printing after the reconnect: the same job, followed to its end.
    await waitFor(async () => (await f!.status(moonraker.id)) === 'printing', 'printing again after the reconnect');
    moonraker.sim.finishPrint();
    await waitFor(async () => (await queueOf(f!)).items[0]?.status === 'done', 'the job done');
    expect(await f.status(moonraker.id)).toBe('idle');
    expect((await queueOf(f)).running).toBe(true);
    expect(f.wsEvents.filter((e) => e.type === 'job.failed')).toHaveLength(0);
  }, 30_000);
});
