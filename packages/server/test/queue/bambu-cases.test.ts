/**
 * Field cases (../shared/cases/bambu-*) end to end: the real server and queue, the real Bambu driver,
 * the Bambu simulator over real TLS MQTT and FTPS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { storageFileName } from '../../src/printers/bambu/storage-name.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { caseFile, caseJson, type CasesRig, startCasesRig } from './cases-rig.ts';
import { FIXTURE_3MF, projectFiles } from './e2e-helpers.ts';

let rig: CasesRig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

const queueItem = async (r: CasesRig, id: string) =>
  (await r.api('GET', '/api/v1/queue')).body.items.find((i: any) => i.id === id);

describe('bambu-model-from-printer: files are matched against what the printer says it is', () => {
  it('a printer added without a model reports "A1 mini": an X1C file is never sent to it, and the item says why', async () => {
    rig = await startCasesRig();
    const answer = caseJson('bambu-model-from-printer', 'get_version.json');
    const productName = answer.info.module[0].product_name as string;
    expect(productName).toBe('Bambu Lab A1 mini');
    const { id, sim } = await rig.addPrinter({ name: 'mini', model: null, sim: { model: 'A1 mini', productName } });
    await waitFor(() => rig!.server.fleet.get(id)?.state.reported.model === 'A1 mini', 'reported model');
    const printer = (await rig.api('GET', `/api/v1/printers/${id}`)).body;
    expect(printer.model).toBeNull();
    expect(printer.state.reported).toMatchObject({ model: 'A1 mini', nozzleDiameter: 0.4 });

    const file = await rig.upload(caseFile('bambu-model-from-printer', 'bracket-x1c.gcode.3mf'), 'bracket-x1c.gcode.3mf');
    expect(file.printerModel).toBe('X1C');
    const item = (await rig.api('POST', '/api/v1/queue', { fileId: file.id })).body;
    await rig.server.queue.whenIdle();
    await sleep(300); // a few report rounds: still nothing may go out
    await rig.server.queue.whenIdle();
    expect(projectFiles(sim)).toHaveLength(0);
    const view = await queueItem(rig, item.id);
    expect(view.status).toBe('waiting');
    expect(view.waitingReason).toMatchObject({
      code: 'no_printer_fits',
      params: { fileModel: 'X1C', printers: [{ printerId: id, code: 'printer_model_mismatch' }] },
    });
  });

  it('a printer typed "X1 Carbon" that reports "Bambu Lab X1 Carbon" gets the BL-P001 file', async () => {
    rig = await startCasesRig();
    const { id, sim } = await rig.addPrinter({ name: 'x1c', model: 'X1 Carbon', sim: { model: 'X1C' } });
    await waitFor(() => rig!.server.fleet.get(id)?.state.reported.model === 'X1C', 'reported X1C');
    const file = await rig.upload(caseFile('bambu-model-from-printer', 'bracket-x1c.gcode.3mf'), 'bracket-x1c.gcode.3mf');
    await rig.api('POST', '/api/v1/queue', { fileId: file.id });
    await waitFor(() => projectFiles(sim).length === 1, 'the X1C file sent to the X1 Carbon');
  });

  it('the typed model is the fallback when the printer does not say; what the printer says wins over it', async () => {
    rig = await startCasesRig();
    // Typed "X1 Carbon", the printer never answers get_version: the typed name decides.
    const typed = await rig.addPrinter({ name: 'x1c-typed', model: 'X1 Carbon', sim: { model: 'X1C', answerGetVersion: false } });
    // Typed "X1C", but the printer says it is an A1 mini: it gets no X1C file.
    const lying = await rig.addPrinter({ name: 'mini-typed-x1c', model: 'X1C', sim: { model: 'A1 mini' } });
    await waitFor(() => rig!.server.fleet.get(lying.id)?.state.reported.model === 'A1 mini', 'reported A1 mini');
    expect(rig.server.fleet.get(typed.id)?.state.reported.model).toBeNull();
    const file = await rig.upload(caseFile('bambu-model-from-printer', 'bracket-x1c.gcode.3mf'), 'bracket-x1c.gcode.3mf');
    await rig.api('POST', '/api/v1/queue', { fileId: file.id, copies: 2 });
    await waitFor(() => projectFiles(typed.sim).length === 1, 'sent to the typed X1 Carbon');
    await rig.server.queue.whenIdle();
    expect(projectFiles(lying.sim)).toHaveLength(0);
  });

  it('a printer whose model is unknown never gets a .gcode.3mf sliced for a model: printer_model_unknown', async () => {
    rig = await startCasesRig();
    const { id, sim } = await rig.addPrinter({ name: 'anon', model: null, sim: { model: 'A1 mini', productName: null } });
    const file = await rig.upload(FIXTURE_3MF, 'cube.gcode.3mf'); // sliced for the A1 mini (N1)
    expect(file.printerModel).toBe('A1 mini');
    const item = (await rig.api('POST', '/api/v1/queue', { fileId: file.id })).body;
    await rig.server.queue.whenIdle();
    await sleep(300);
    await rig.server.queue.whenIdle();
    expect(projectFiles(sim)).toHaveLength(0);
    expect(rig.server.fleet.get(id)?.state.reported.model).toBeNull();
    const view = await queueItem(rig, item.id);
    expect(view.waitingReason).toMatchObject({
      code: 'printer_model_unknown',
      params: { fileModel: 'A1 mini', printerIds: [id] },
    });
  });

  it('nozzle side: a printer that reports a 0.2 mm nozzle refuses a 0.4 mm file, whatever was typed', async () => {
    rig = await startCasesRig();
    const small = await rig.addPrinter({
      name: 'mini-0.2',
      model: 'A1 mini',
      sim: { model: 'A1 mini', nozzleDiameter: 0.2 },
      settings: { nozzleDiameter: 0.4 }, // typed wrong: the printer's own report wins
    });
    await waitFor(() => rig!.server.fleet.get(small.id)?.state.reported.nozzleDiameter === 0.2, 'reported 0.2');
    const file = await rig.upload(FIXTURE_3MF, 'cube.gcode.3mf');
    expect(file.nozzleDiameter).toBe(0.4);
    const item = (await rig.api('POST', '/api/v1/queue', { fileId: file.id })).body;
    await rig.server.queue.whenIdle();
    await sleep(300);
    await rig.server.queue.whenIdle();
    expect(projectFiles(small.sim)).toHaveLength(0);
    expect((await queueItem(rig, item.id)).waitingReason).toMatchObject({
      code: 'no_printer_fits',
      params: { printers: [{ printerId: small.id, code: 'printer_nozzle_mismatch', params: { fileNozzle: 0.4, printerNozzle: 0.2 } }] },
    });
    // A 0.4 mm A1 mini joins: the file goes there.
    const right = await rig.addPrinter({ name: 'mini-0.4', model: null, sim: { model: 'A1 mini', nozzleDiameter: 0.4 } });
    await waitFor(() => projectFiles(right.sim).length === 1, 'sent to the 0.4 mm printer');
    expect(projectFiles(small.sim)).toHaveLength(0);
  });
});

describe('bambu-file-name-chars: the name on the printer is one its FAT storage accepts', () => {
  it('L|R.gcode.3mf keeps its display name; the printer stores a safe, content-unique name', async () => {
    rig = await startCasesRig();
    const { sim } = await rig.addPrinter({ name: 'p1s', model: 'P1S', sim: { model: 'P1S' } });
    const file = await rig.upload(caseFile('bambu-file-name-chars', 'L_R.gcode.3mf'), 'L|R.gcode.3mf');
    expect(file.name).toBe('L|R.gcode.3mf');
    const item = (await rig.api('POST', '/api/v1/queue', { fileId: file.id, copies: 2 })).body;
    await waitFor(async () => (await queueItem(rig!, item.id))?.copiesDone === 2, 'both copies printed', 40_000);
    const stored = storageFileName('L|R.gcode.3mf', file.md5);
    expect(stored).toMatch(/^L_R-[0-9a-f]{8}\.gcode\.3mf$/);
    expect(sim.files().map((f) => f.name)).toContain(stored);
    expect(sim.files().some((f) => /[|\\:*?"<>]/.test(f.name))).toBe(false);
    const starts = projectFiles(sim).map((c) => c.print);
    expect(starts).toHaveLength(2);
    for (const p of starts) {
      expect(p.file).toBe(stored);
      expect(p.url).toBe(`ftp:///${stored}`);
      expect(p.subtask_name).toBe('L|R'); // the job keeps its display name on the printer's screen
    }
    // Upload once, print twice: the second copy found the same name with the same bytes.
    expect((await rig.api('GET', `/api/v1/files/${file.id}`)).body.name).toBe('L|R.gcode.3mf');
  });
});

describe('bambu-err-code-refusal: an err_code echo is an immediate refusal', () => {
  it('84033543 on project_file: the job closes as not started at once, with the LAN Only + Developer Mode hint', async () => {
    // An hour-long start watchdog: only the refusal itself can end the start in this test's time.
    rig = await startCasesRig({ startConfirmTimeoutMs: 3_600_000 });
    const { id, sim } = await rig.addPrinter({ name: 'x1c', model: 'X1C', sim: { model: 'X1C' } });
    const ack = caseJson('bambu-err-code-refusal', 'ack.json');
    sim.refuseCommands({ command: 'print.project_file', errCode: ack.print.err_code });
    const file = await rig.upload(caseFile('bambu-model-from-printer', 'bracket-x1c.gcode.3mf'), 'bracket.gcode.3mf');
    const item = (await rig.api('POST', '/api/v1/queue', { fileId: file.id })).body;
    const alert = await waitFor(
      () => rig!.events.find((e) => e.type === 'alert' && (e.data as any).code === 'start_refused'),
      'start_refused alert',
    );
    expect(alert.data).toMatchObject({ level: 'error', printerId: id, params: { reason: 'verify_failed', errCode: 84033543 } });
    expect((alert.data as any).message).toMatch(/LAN Only.*Developer Mode/);
    await rig.server.queue.whenIdle();
    // Not started, and the default policy fails a copy that did not print: the item is failed,
    // nothing printed; no "plate needs clearing" for a job that never ran.
    const view = await queueItem(rig, item.id);
    expect(view).toMatchObject({ status: 'failed', copiesDone: 0, activePrinterIds: [] });
    expect(view.lastError).toMatch(/start refused \(verify_failed\)/);
    // The printer is closed to jobs with the same hint, and is never sent the job again.
    const printer = (await rig.api('GET', `/api/v1/printers/${id}`)).body;
    expect(printer.state.status).toBe('error');
    expect(printer.state.error).toMatchObject({ code: 'verify_failed', params: { errCode: 84033543 } });
    expect(printer.state.gate.open).toBe(false);
    await sleep(300);
    expect(projectFiles(sim)).toHaveLength(1);
    expect(sim.gcodeState).toBe('IDLE');
  });

  it('with the retry policy a refused start puts the copy back; another printer prints it', async () => {
    rig = await startCasesRig({ startConfirmTimeoutMs: 3_600_000 });
    expect((await rig.api('PUT', '/api/v1/queue/settings', { failedCopyPolicy: 'retry' })).status).toBe(200);
    const refusing = await rig.addPrinter({ name: 'refusing', model: 'A1 mini', sim: { model: 'A1 mini' } });
    // Any other non-zero err_code is a refusal too (not only the verify-failed one).
    refusing.sim.refuseCommands({ command: 'print.project_file', errCode: 0x0500_4003 });
    const file = await rig.upload(FIXTURE_3MF, 'cube.gcode.3mf');
    const item = (await rig.api('POST', '/api/v1/queue', { fileId: file.id })).body;
    const alert = await waitFor(
      () => rig!.events.find((e) => e.type === 'alert' && (e.data as any).code === 'start_refused'),
      'start_refused alert',
    );
    expect(alert.data).toMatchObject({ level: 'warning', params: { reason: 'command_refused', errCodeHex: '0x05004003' } });
    await rig.server.queue.whenIdle();
    expect(await queueItem(rig, item.id)).toMatchObject({ status: 'waiting', copiesDone: 0 });
    // A refusal other than verify-failed does not close the printer; it retries after the back-off.
    expect(rig.server.fleet.get(refusing.id)?.state.status).toBe('idle');
    const other = await rig.addPrinter({ name: 'other', model: 'A1 mini', sim: { model: 'A1 mini' } });
    await waitFor(async () => (await queueItem(rig!, item.id))?.copiesDone === 1, 'printed elsewhere', 30_000);
    expect(projectFiles(other.sim)).toHaveLength(1);
    expect(projectFiles(refusing.sim)).toHaveLength(1);
  });
});

describe('bambu-hms: notices never stop the printer or the queue; a stop does', () => {
  it('a listed HMS entry while a queue print runs is a warning; the printer keeps printing and the queue runs', async () => {
    rig = await startCasesRig();
    const { id, sim } = await rig.addPrinter({
      name: 'x1c',
      model: 'X1C',
      sim: { model: 'X1C', timeScale: 20 },
    });
    const file = await rig.upload(caseFile('bambu-model-from-printer', 'bracket-x1c.gcode.3mf'), 'bracket.gcode.3mf');
    await rig.api('POST', '/api/v1/queue', { fileId: file.id, copies: 2 });
    await waitFor(() => rig!.server.fleet.get(id)?.state.status === 'printing', 'printing');
    // The case's delta adds 0C00_0300_0002_0004 (first-layer inspection not supported), RUNNING stays.
    const delta = caseJson('bambu-hms-notice-while-printing', 'delta.json');
    sim.setHms(delta.print.hms);
    const s = await waitFor(() => {
      const st = rig!.server.fleet.get(id)?.state;
      return st?.notices.length ? st : null;
    }, 'notice');
    expect(s.status).toBe('printing');
    expect(s.error).toBeNull();
    expect(s.notices[0]).toMatchObject({
      level: 'warning',
      code: 'HMS_0C00_0300_0002_0004',
      messages: { en: expect.stringMatching(/first-layer inspection/i), zh: expect.stringContaining('首层检测') },
    });
    await sleep(300);
    expect((await rig.api('GET', '/api/v1/queue')).body.running).toBe(true);
    expect(rig.events.some((e) => e.type === 'alert' && (e.data as any).code === 'queue_paused_printer_error')).toBe(false);
    const printer = (await rig.api('GET', `/api/v1/printers/${id}`)).body;
    expect(printer.state.notices[0].code).toBe('HMS_0C00_0300_0002_0004');

    // The printer itself stops (filament run-out pause, print_error 0300_8015): that pauses the queue.
    sim.injectError({ printError: 0x0300_8015 });
    await waitFor(
      () => rig!.events.find((e) => e.type === 'alert' && (e.data as any).code === 'queue_paused_printer_error'),
      'queue paused',
    );
    expect((await rig.api('GET', '/api/v1/queue')).body.running).toBe(false);
    expect(rig.server.fleet.get(id)?.state.status).toBe('error');
  });
});
