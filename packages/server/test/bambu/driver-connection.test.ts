import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { DriverError } from '../../src/printers/driver.ts';
import { NOTE_NO_REPORTS, NOTE_WRONG_ACCESS_CODE } from '../../src/printers/bambu/driver.ts';
import { FakeClock } from '../../src/util/clock.ts';
import { commandsNamed, jobRequest, type Rig, startRig, waitFor, waitForStatus } from './helpers.ts';

let rig: Rig | null = null;
afterEach(async () => {
  await rig?.close();
  rig = null;
});

describe('bambu driver: connection (real TLS MQTT against the simulator)', () => {
  it('stays unknown until a full report arrives, after subscribing and asking for get_version + pushall', async () => {
    rig = await startRig({ sim: {} });
    rig.sim.setSilent(true);
    await waitFor(() => commandsNamed(rig!.sim, 'pushall').length > 0, 'pushall');
    expect(commandsNamed(rig.sim, 'get_version').length).toBeGreaterThan(0);
    const s = await waitForStatus(rig, 'unknown');
    expect(s.fullStatus).toBe(false);
    rig.sim.setSilent(false);
    rig.sim.pushFullReport();
    const idle = await waitForStatus(rig, 'idle');
    expect(idle).toMatchObject({ fullStatus: true, stale: false, error: null, job: null });
    expect(idle.temperatures.nozzle).toBeDefined();
    expect(rig.states.some((x) => x.status === 'connecting')).toBe(true);
  });

  it('wrong access code: stops retrying and says so', async () => {
    rig = await startRig({ connection: { accessCode: '00000000' }, driver: { timing: { reconnectBaseMs: 20 } } });
    const s = await waitFor(
      () => rig!.driver.getState().connectionNote === NOTE_WRONG_ACCESS_CODE && rig!.driver.getState(),
      'note',
    );
    expect(s.status).toBe('offline');
    expect(s.error?.code).toBe('wrong_access_code');
    await new Promise((r) => setTimeout(r, 400));
    expect(rig.logs.filter((l) => l.kind === 'mqtt.backoff')).toHaveLength(0);
    const attempts = rig.states.filter(
      (x, i) => x.status === 'connecting' && rig!.states[i - 1]?.status !== 'connecting',
    );
    expect(attempts).toHaveLength(1);
    expect(rig.driver.getState().status).toBe('offline');
  });

  it('refuses a certificate whose CN is not the configured serial (CA trusted)', async () => {
    rig = await startRig({ connection: { serial: 'WRONGSERIAL0001' }, driver: { timing: { reconnectBaseMs: 5_000 } } });
    const s = await waitFor(
      () => rig!.driver.getState().error?.code === 'tls_certificate' && rig!.driver.getState(),
      'cert error',
    );
    expect(s.connectionNote).toMatch(/WRONGSERIAL0001/);
    expect(rig.states.some((x) => x.status === 'unknown' || x.status === 'idle')).toBe(false);
    expect(rig.logs.some((l) => l.kind === 'mqtt.connected')).toBe(false);
  });

  it('insecureTls connects despite the CN; a serial that gets no reports is flagged', async () => {
    rig = await startRig({
      connection: { serial: 'WRONGSERIAL0001', insecureTls: true, caCertPem: undefined },
      driver: { timing: { noReportNoteMs: 150 } },
    });
    const s = await waitFor(
      () => rig!.driver.getState().connectionNote === NOTE_NO_REPORTS && rig!.driver.getState(),
      'note',
    );
    expect(s.status).toBe('unknown');
    expect(rig.logs.some((l) => l.kind === 'mqtt.connected')).toBe(true);
  });

  it('reconnects with backoff and a fresh client id after dropConnections', async () => {
    rig = await startRig({ driver: { timing: { reconnectBaseMs: 100 } } });
    await waitForStatus(rig, 'idle');
    const before = rig.states.length;
    rig.sim.dropConnections();
    await waitFor(() => rig!.states.slice(before).some((s) => s.status === 'offline'), 'offline');
    const again = await waitForStatus(rig, 'idle');
    expect(again.fullStatus).toBe(true);
    const backoff = rig.logs.find((l) => l.kind === 'mqtt.backoff');
    expect(backoff?.detail?.delayMs).toBeGreaterThanOrEqual(80);
    expect(backoff?.detail?.delayMs).toBeLessThanOrEqual(120);
    const ids = rig.logs.filter((l) => l.kind === 'mqtt.connected').map((l) => l.detail?.clientId);
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('silence → unknown + stale → pushall → reconnect → recovery (FakeClock watchdog)', async () => {
    const clock = new FakeClock(Date.now());
    rig = await startRig({ clock });
    await waitForStatus(rig, 'idle');
    rig.sim.setSilent(true);
    const pushallsBefore = commandsNamed(rig.sim, 'pushall').length;
    clock.advance(60_000);
    const stale = await waitFor(() => rig!.driver.getState().stale && rig!.driver.getState(), 'stale');
    expect(stale.status).toBe('unknown');
    await waitFor(() => commandsNamed(rig!.sim, 'pushall').length > pushallsBefore, 'pushall after stale');
    expect(commandsNamed(rig.sim, 'start').length).toBeGreaterThan(0);
    clock.advance(10_000); // no answer to pushall: drop and reconnect with backoff
    await waitFor(() => rig!.logs.some((l) => l.kind === 'mqtt.backoff'), 'backoff');
    const delay = Number(rig.logs.find((l) => l.kind === 'mqtt.backoff')?.detail?.delayMs);
    expect(delay).toBeGreaterThanOrEqual(800);
    clock.advance(delay);
    await waitFor(() => rig!.logs.filter((l) => l.kind === 'mqtt.connected').length === 2, 'reconnected');
    clock.advance(20_000);
    await waitFor(() => rig!.driver.getState().connectionNote === NOTE_NO_REPORTS, 'no-report note');
    expect(rig.driver.getState().status).toBe('unknown');
    rig.sim.setSilent(false);
    clock.advance(40_000); // the watchdog asks again; now the printer answers
    const back = await waitForStatus(rig, 'idle');
    expect(back).toMatchObject({ stale: false, fullStatus: true, connectionNote: null });
  });

  it('an HMS entry on an idle printer is a warning notice with English and Chinese text, not an error', async () => {
    rig = await startRig();
    await waitForStatus(rig, 'idle');
    rig.sim.injectError({ hms: [{ attr: 0x0300_0100, code: 0x0001_0007 }] });
    const s = await waitFor(() => rig!.driver.getState().notices.length > 0 && rig!.driver.getState(), 'notice');
    expect(s.status).toBe('idle');
    expect(s.error).toBeNull();
    expect(s.notices).toEqual([
      {
        level: 'warning',
        code: 'HMS_0300_0100_0001_0007',
        message: 'Heatbed temperature abnormal: the sensor may be open',
        messages: { en: 'Heatbed temperature abnormal: the sensor may be open', zh: '热床温度异常：传感器可能断路' },
        params: { hms: '0300_0100_0001_0007', severity: 'fatal', listed: true },
        url: 'https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0300_0100_0001_0007',
      },
    ]);
    rig.sim.clearError();
    await waitFor(() => rig!.driver.getState().notices.length === 0, 'notice cleared');
    rig.sim.injectError({ printError: 0x0300_400c }); // a cancel echo is no fault
    await waitFor(() => rig!.states.at(-1)?.updatedAt && rig!.sim.status.print_error === 0x0300400c, 'echo');
    await new Promise((r) => setTimeout(r, 200));
    expect(rig.driver.getState().status).toBe('idle');
  });

  it('a fatal HMS while printing pauses the printer: then it is an error with English and Chinese text', async () => {
    rig = await startRig({ sim: { printSeconds: 3600, timeScale: 1 } });
    await waitForStatus(rig, 'idle');
    await rig.driver.startJob(jobRequest(rig, '3101'));
    rig.sim.injectError({ hms: [{ attr: 0x0300_0100, code: 0x0001_0007 }] });
    const s = await waitForStatus(rig, 'error');
    expect(rig.sim.gcodeState).toBe('PAUSE');
    expect(s.error).toEqual({
      code: 'HMS_0300_0100_0001_0007',
      message: expect.stringMatching(/Heatbed.*热床/),
      messages: { en: 'Heatbed temperature abnormal: the sensor may be open', zh: '热床温度异常：传感器可能断路' },
      params: { hms: '0300_0100_0001_0007', severity: 'fatal' },
      url: 'https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0300_0100_0001_0007',
    });
    expect(s.notices).toEqual([]); // the cause is the error, not also a notice
  });

  it('detects "mqtt message verify failed" and asks for LAN Only + Developer Mode', async () => {
    rig = await startRig();
    await waitForStatus(rig, 'idle');
    rig.sim.setVerifyFailedMode(true);
    const err = await rig.driver.sendGcode(['G28']).catch((e) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err.code).toBe('verify_failed');
    const s = await waitForStatus(rig, 'error');
    expect(s.error?.message).toMatch(/LAN Only.*Developer Mode/);
  });

  it('camera snapshot returns a JPEG over the TLS :6000 stream', async () => {
    rig = await startRig();
    const jpeg = await rig.driver.snapshot();
    expect(jpeg).not.toBeNull();
    expect(jpeg![0]).toBe(0xff);
    expect(jpeg![1]).toBe(0xd8);
    expect(jpeg!.at(-2)).toBe(0xff);
    expect(jpeg!.at(-1)).toBe(0xd9);
  });

  it('snapshot is null for X1 (RTSPS camera not supported yet)', async () => {
    rig = await startRig({ sim: { model: 'X1C' } });
    expect(await rig.driver.snapshot()).toBeNull();
  });

  it('survives garbage, non-UTF-8 and odd-typed reports without dropping the connection', async () => {
    rig = await startRig();
    await waitForStatus(rig, 'idle');
    const other = await mqtt.connectAsync({
      host: rig.sim.host,
      port: rig.sim.ports.mqtt,
      protocol: 'mqtts',
      username: 'bblp',
      password: rig.sim.accessCode,
      rejectUnauthorized: false,
      reconnectPeriod: 0,
    });
    const topic = `device/${rig.sim.serial}/report`;
    try {
      await other.publishAsync(topic, Buffer.from([0xff, 0xfe, 0x00, 0x7b]));
      await other.publishAsync(topic, '{"print":{"command":"push_status","msg":1,"hms":"nonsense","layer_num":{}}}');
      await other.publishAsync(
        topic,
        Buffer.concat([
          Buffer.from('{"print":{"command":"push_status","msg":1,"nozzle_temper":"201.5","subtask_name":"caf'),
          Buffer.from([0xe9]),
          Buffer.from('"}}'),
        ]),
      );
      const s = await waitFor(
        () => rig!.driver.getState().temperatures.nozzle?.actual === 201.5 && rig!.driver.getState(),
        'nozzle',
      );
      expect(s.status).toBe('idle');
      expect(rig.logs.some((l) => l.kind === 'mqtt.disconnected')).toBe(false);
    } finally {
      await other.endAsync();
    }
  });

  it('asks for one pushall when RUNNING reports layers without a total (missed field)', async () => {
    rig = await startRig();
    await waitForStatus(rig, 'idle');
    const before = commandsNamed(rig.sim, 'pushall').length;
    rig.sim.setState({ gcode_state: 'RUNNING', layer_num: 3, total_layer_num: 0, subtask_id: '77' } as any);
    await waitFor(() => commandsNamed(rig!.sim, 'pushall').length === before + 1, 'resync pushall');
    rig.sim.setState({ layer_num: 4 } as any);
    await waitFor(() => rig!.driver.getState().layer?.current === 4, 'layer 4');
    expect(commandsNamed(rig.sim, 'pushall')).toHaveLength(before + 1);
  });
});
