/**
 * Numeric refusals over real TLS MQTT: the simulator echoes our command with a non-zero `err_code`
 * and no `result` (case bambu-err-code-refusal). Every command is refused at once — the command
 * and start watchdogs are an hour here, so only the echo can end them within the test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DriverError, StartRefusedError } from '../../src/printers/driver.ts';
import { PendingCommands } from '../../src/printers/bambu/pending-commands.ts';
import { FakeClock } from '../../src/util/clock.ts';
import { commandsNamed, jobRequest, type Rig, startRig, waitFor, waitForStatus } from './helpers.ts';

let rig: Rig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

const HOUR = 3_600_000;
const VERIFY_FAILED = 84033543;

const start = () =>
  startRig({ sim: { printSeconds: 36_000, timeScale: 10, prepareSeconds: 5 }, driver: { commandTimeoutMs: HOUR, startConfirmTimeoutMs: HOUR } });

describe('bambu driver: err_code refusals (real TLS MQTT against the simulator)', () => {
  it('pause, resume, stop and G-code echoed with an err_code are refused at once, naming the code', async () => {
    rig = await start();
    await waitForStatus(rig, 'idle');
    await rig.driver.startJob(jobRequest(rig, '1201'));
    await waitForStatus(rig, 'printing', 15_000);
    rig.sim.refuseCommands({ command: '*', errCode: 0x0300_4005 });
    const calls: Array<[string, () => Promise<void>]> = [
      ['pause', () => rig!.driver.pause()],
      ['resume', () => rig!.driver.resume()],
      ['stop', () => rig!.driver.cancel()],
      ['gcode_line', () => rig!.driver.sendGcode(['M104 S200'])],
    ];
    for (const [command, call] of calls) {
      const err = await call().catch((e) => e);
      expect(err, command).toBeInstanceOf(DriverError);
      expect(err.code, command).toBe('command_refused');
      expect(err.params, command).toEqual({ command, errCode: 0x0300_4005, errCodeHex: '0x03004005' });
      expect(err.message, command).toContain('0x03004005');
    }
    // Refused commands had no effect, and a plain refusal is not a printer error.
    expect(rig.sim.gcodeState).toBe('RUNNING');
    expect(rig.sim.status.nozzle_target_temper).not.toBe(200);
    expect(rig.driver.getState().status).toBe('printing');
    expect(rig.driver.getState().error).toBeNull();
    // Once the printer accepts commands again, they work.
    rig.sim.refuseCommands(null);
    await rig.driver.pause();
    expect(rig.sim.gcodeState).toBe('PAUSE');
  });

  it('84033543 while printing: the command is refused with the LAN Only + Developer Mode hint, the print goes on (warning)', async () => {
    rig = await start();
    await waitForStatus(rig, 'idle');
    await rig.driver.startJob(jobRequest(rig, '1202'));
    await waitForStatus(rig, 'printing', 15_000);
    rig.sim.refuseCommands({ command: 'print.pause', errCode: VERIFY_FAILED, times: 1 });
    const err = await rig.driver.pause().catch((e) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err.code).toBe('verify_failed');
    expect(err.message).toMatch(/LAN Only.*Developer Mode/);
    const s = await waitFor(
      () => rig!.driver.getState().notices.find((n) => n.code === 'verify_failed') && rig!.driver.getState(),
      'verify-failed warning',
    );
    expect(s.status).toBe('printing');
    expect(s.error).toBeNull();
    expect(s.notices.find((n) => n.code === 'verify_failed')?.level).toBe('warning');
    // When the job ends the printer is ready again — but not for us: then it is an error.
    rig.sim.finishNow();
    const after = await waitForStatus(rig, 'error');
    expect(after.error).toMatchObject({ code: 'verify_failed', params: { errCode: VERIFY_FAILED } });
  });

  it('a start refused by err_code rejects with StartRefusedError at once and is never re-sent', async () => {
    rig = await start();
    await waitForStatus(rig, 'idle');
    rig.sim.refuseCommands({ command: 'print.project_file', errCode: VERIFY_FAILED });
    const err = await rig.driver.startJob(jobRequest(rig, '1203')).catch((e) => e);
    expect(err).toBeInstanceOf(StartRefusedError);
    expect(err.code).toBe('verify_failed');
    expect(rig.logs.some((l) => l.kind === 'job.refused')).toBe(true);
    expect(commandsNamed(rig.sim, 'project_file')).toHaveLength(1);
    expect(rig.sim.gcodeState).toBe('IDLE');
    // Verify-failed closes the printer to new starts without sending anything.
    const again = await rig.driver.startJob(jobRequest(rig, '1204')).catch((e) => e);
    expect(again).toBeInstanceOf(StartRefusedError);
    expect(commandsNamed(rig.sim, 'project_file')).toHaveLength(1);
  });

  it('only an echo of OUR sequence_id refuses; an err_code of 0 or an ack without result and code is no refusal', async () => {
    const clock = new FakeClock(0);
    const pending = new PendingCommands(clock);
    const settled: string[] = [];
    const wait = (sequenceId: string) =>
      pending
        .wait({
          sequenceId,
          command: 'gcode_line',
          ackConfirms: true,
          timeoutMs: HOUR,
          onTimeout: () => new DriverError('command_timeout', 'timeout'),
        })
        .then(
          () => settled.push(`${sequenceId}:ok`),
          (e: DriverError) => settled.push(`${sequenceId}:${e.code}`),
        );
    const a = wait('10');
    const b = wait('11');
    pending.onAck({ command: 'gcode_line', sequenceId: '99', result: null, reason: null, errCode: VERIFY_FAILED });
    pending.onAck({ command: 'gcode_line', sequenceId: '10', result: null, reason: null, errCode: 0 });
    pending.onAck({ command: 'gcode_line', sequenceId: '10', result: null, reason: null, errCode: null });
    await Promise.resolve();
    expect(settled).toEqual([]);
    pending.onAck({ command: 'gcode_line', sequenceId: '11', result: 'success', reason: null, errCode: 0x0700_8012 });
    pending.onAck({ command: 'gcode_line', sequenceId: '10', result: 'success', reason: '' });
    await Promise.all([a, b]);
    expect(settled.sort()).toEqual(['10:ok', '11:command_refused']);
  });
});
