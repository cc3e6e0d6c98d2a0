import { afterEach, describe, expect, it } from 'vitest';
import { DriverError, StartNotConfirmedError } from '../../src/printers/driver.ts';
import { storageFileName } from '../../src/printers/bambu/storage-name.ts';
import { JsonFileUploadStore } from '../../src/printers/bambu/upload-records.ts';
import { commandsNamed, jobRequest, type Rig, startRig, waitFor, waitForStatus } from './helpers.ts';

let rig: Rig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

const projectFiles = (r: Rig) => commandsNamed(r.sim, 'project_file').map((c) => c.print);

describe('bambu driver: jobs (real TLS MQTT + FTPS against the simulator)', () => {
  it('uploads once, starts (confirmed), and skips the upload for the same file next time', async () => {
    rig = await startRig({ sim: { printSeconds: 3600, timeScale: 1 }, driver: { timing: { reconnectBaseMs: 100 } } });
    await waitForStatus(rig, 'idle');
    const first = jobRequest(rig, '1001');
    const stored = storageFileName('cube.gcode.3mf', first.fileMd5);
    expect(stored).toBe(`cube-${first.fileMd5.slice(0, 8)}.gcode.3mf`);
    await rig.driver.startJob(first);
    const started = rig.driver.getState();
    expect(['preparing', 'printing']).toContain(started.status);
    expect(started.job).toMatchObject({ jobId: '1001', plate: 1 });
    expect(rig.sim.files().find((f) => f.name === stored)?.size).toBe(first.fileSize);
    expect(first.progress.at(-1)).toBe(first.fileSize);
    expect(rig.logs.some((l) => l.kind === 'upload.progress')).toBe(true);
    const [pf] = projectFiles(rig);
    expect(pf).toMatchObject({
      param: 'Metadata/plate_1.gcode',
      url: `file:///sdcard/${stored}`, // A1 form
      file: stored,
      md5: first.fileMd5.toUpperCase(),
      bed_leveling: true,
      flow_cali: false,
      timelapse: false,
      use_ams: false,
      task_id: '1001',
      subtask_id: '1001',
      subtask_name: 'job 1001',
    });

    rig.sim.finishNow();
    const done = await waitFor(
      () => rig!.driver.getState().lastJob?.jobId === '1001' && rig!.driver.getState(),
      'FINISH',
    );
    expect(done.status).toBe('idle');
    expect(done.lastJob?.outcome).toBe('finished');
    const finishedAt = done.lastJob!.at;
    // a reconnect that shows the same finished subtask keeps the record (and its cooldown start)
    const before = rig.states.length;
    rig.sim.dropConnections();
    await waitFor(() => rig!.states.slice(before).some((s) => s.status === 'offline'), 'offline');
    await waitForStatus(rig, 'idle');
    expect(rig.driver.getState().lastJob).toEqual(done.lastJob);

    const second = jobRequest(rig, '1002');
    await rig.driver.startJob(second);
    expect(rig.logs.filter((l) => l.kind === 'upload.done')).toHaveLength(1);
    expect(rig.logs.filter((l) => l.kind === 'upload.skipped')).toHaveLength(1);
    expect(projectFiles(rig)).toHaveLength(2);
    expect(new Set(projectFiles(rig).map((p) => p.sequence_id)).size).toBe(2);
    expect(rig.driver.getState().lastJob?.at).toBe(finishedAt);
    expect((await new JsonFileUploadStore(rig.dataDir).get(stored))?.md5).toBe(first.fileMd5.toUpperCase());
  });

  it('refuses to send a job to a busy printer (never project_file while printing)', async () => {
    rig = await startRig({ sim: { printSeconds: 3600, timeScale: 1 } });
    await waitForStatus(rig, 'idle');
    await rig.driver.startJob(jobRequest(rig, '2001'));
    const err = await rig.driver.startJob(jobRequest(rig, '2002')).catch((e) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err.code).toBe('printer_busy');
    expect(projectFiles(rig)).toHaveLength(1);
  });

  it('start not confirmed: StartNotConfirmedError after the timeout, and no second project_file', async () => {
    rig = await startRig({ driver: { startConfirmTimeoutMs: 600 } });
    await waitForStatus(rig, 'idle');
    rig.sim.on('command', (c: any) => {
      if (c.print?.command === 'project_file') rig!.sim.setSilent(true);
    });
    const err = await rig.driver.startJob(jobRequest(rig, '3001')).catch((e) => e);
    expect(err).toBeInstanceOf(StartNotConfirmedError);
    await new Promise((r) => setTimeout(r, 200));
    expect(projectFiles(rig)).toHaveLength(1);
  });

  it('a start refused by the printer (failed ack) rejects with DriverError', async () => {
    rig = await startRig();
    await waitForStatus(rig, 'idle');
    rig.sim.setVerifyFailedMode(true);
    const err = await rig.driver.startJob(jobRequest(rig, '4001')).catch((e) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err).not.toBeInstanceOf(StartNotConfirmedError);
    expect(err.code).toBe('verify_failed');
    expect(projectFiles(rig)).toHaveLength(1);
  });

  it('pause, resume, stop; a filament run-out print_error shows as an error', async () => {
    rig = await startRig({ sim: { printSeconds: 3600, timeScale: 1 } });
    await waitForStatus(rig, 'idle');
    await rig.driver.startJob(jobRequest(rig, '5001'));
    await rig.driver.pause();
    await waitForStatus(rig, 'paused');
    await rig.driver.resume();
    await waitFor(() => ['printing', 'preparing'].includes(rig!.driver.getState().status), 'resumed');
    rig.sim.injectError({ printError: 0x0300_8015 });
    const err = await waitForStatus(rig, 'error');
    expect(err.error?.code).toBe('0300_8015');
    expect(err.error?.message).toMatch(/Filament ran out.*耗材/);
    await rig.driver.clearError();
    await rig.driver.cancel();
    const stopped = await waitFor(
      () => rig!.driver.getState().lastJob?.jobId === '5001' && rig!.driver.getState(),
      'stopped',
    );
    expect(stopped.status).toBe('idle');
    expect(stopped.lastJob?.outcome).toBe('cancelled');
    expect(commandsNamed(rig.sim, 'pause')[0].print).toMatchObject({ command: 'pause' });
  });

  it('A1 data-channel hang: SIZE check, then PROT C remembered for the printer', async () => {
    rig = await startRig({ driver: { uploadFloorMs: 800 } });
    await waitForStatus(rig, 'idle');
    rig.sim.setFtpsMode('hang');
    const first = jobRequest(rig, '6001', 'a.gcode.3mf');
    await rig.driver.startJob(first);
    expect(rig.logs.some((l) => l.kind === 'upload.prot_c')).toBe(true);
    expect(await new JsonFileUploadStore(rig.dataDir).getClearDataChannel()).toBe(true);
    rig.sim.finishNow();
    await waitFor(() => rig!.driver.getState().lastJob?.jobId === '6001', 'finish');
    const second = jobRequest(rig, '6002', 'b.gcode.3mf');
    await rig.driver.startJob(second); // PROT C: no hang even though the mode is still 'hang'
    const stored = storageFileName('b.gcode.3mf', second.fileMd5);
    expect(rig.sim.files().find((f) => f.name === stored)?.size).toBe(second.fileSize);
    expect(rig.logs.filter((l) => l.kind === 'upload.prot_c')).toHaveLength(1);
  });

  it('stopping the driver while a start waits for confirmation ends it as not confirmed', async () => {
    rig = await startRig();
    await waitForStatus(rig, 'idle');
    rig.sim.on('command', (c: any) => {
      if (c.print?.command === 'project_file') rig!.sim.setSilent(true);
    });
    const pending = rig.driver.startJob(jobRequest(rig, '7001')).catch((e) => e);
    await waitFor(() => projectFiles(rig!).length === 1, 'project_file sent');
    await rig.driver.stop();
    expect(await pending).toBeInstanceOf(StartNotConfirmedError);
    expect(rig.driver.getState().status).toBe('offline');
  });
});
