import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Client, type FTPContext } from 'basic-ftp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BambuSimulator, ERR } from '../../src/bambu/index.ts';
import { connectReports, isAck, type ReportClient, stateIs } from './helpers.ts';

const CUBE = readFileSync(new URL('./fixtures/cube-a1mini.gcode.3mf', import.meta.url));
const CUBE_MD5 = createHash('md5').update(CUBE).digest('hex').toUpperCase();

async function ftpsClient(sim: BambuSimulator, password = sim.accessCode): Promise<Client> {
  const client = new Client(10_000);
  await client.access({
    host: sim.host,
    port: sim.ports.ftps,
    user: 'bblp',
    password,
    secure: 'implicit',
    secureOptions: { ca: sim.caCertPem, servername: sim.serial, maxVersion: 'TLSv1.2' },
  });
  return client;
}

async function upload(sim: BambuSimulator, name: string, data: Buffer): Promise<void> {
  const client = await ftpsClient(sim);
  try {
    await client.uploadFrom(Readable.from([data]), name);
  } finally {
    client.close();
  }
}

/**
 * `PROT C` the way Bambuddy falls back on A1 (§1.11): control stays TLS, data goes in clear.
 * basic-ftp always wraps data sockets in TLS on a TLS control connection, so PASV is done by hand.
 */
async function useClearDataChannel(client: Client): Promise<void> {
  expect((await client.send('PROT C')).code).toBe(200);
  client.prepareTransfer = async (ftp: FTPContext) => {
    const res = await ftp.request('PASV');
    const m = /(\d+),(\d+)\)?\s*$/.exec(res.message)!;
    const port = Number(m[1]) * 256 + Number(m[2]);
    const socket = netConnect({ host: ftp.socket.remoteAddress, port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    ftp.dataSocket = socket;
    return res;
  };
}

function projectFile(seq: string, file: string, extra: Record<string, any> = {}) {
  return {
    print: {
      sequence_id: seq,
      command: 'project_file',
      param: 'Metadata/plate_1.gcode',
      url: `ftp:///${file}`,
      file,
      md5: CUBE_MD5,
      bed_leveling: true,
      flow_cali: false,
      timelapse: false,
      use_ams: false,
      ams_mapping: [-1],
      subtask_name: 'cube',
      task_id: `T${seq}`,
      subtask_id: `S${seq}`,
      project_id: '0',
      profile_id: '0',
      ...extra,
    },
  };
}

describe('Bambu simulator jobs over FTPS + MQTT', () => {
  // The cube's slicer estimate is 1095 s; at ×2000 the whole job takes well under 2 s.
  const fast = { sim: new BambuSimulator({ timeScale: 2000, reportIntervalMs: 20 }), rc: null as any as ReportClient };
  // At ×1 a job stays in PREPARE for minutes: state checks are deterministic.
  const sim = new BambuSimulator({ reportIntervalMs: 20, idleReportIntervalMs: 100 });
  let rc: ReportClient;

  beforeAll(async () => {
    await Promise.all([sim.start(), fast.sim.start()]);
    rc = await connectReports(sim);
    fast.rc = await connectReports(fast.sim);
    await upload(sim, 'cube.gcode.3mf', CUBE);
    await upload(fast.sim, 'cube.gcode.3mf', CUBE);
  });
  afterEach(() => {
    sim.setState({ gcode_state: 'IDLE', print_error: 0, hms: [] });
    rc.mark();
  });
  afterAll(async () => {
    await rc?.close();
    await fast.rc?.close();
    await Promise.all([sim.stop(), fast.sim.stop()]);
  });

  it('stores FTPS uploads on its sd card and refuses a wrong password', async () => {
    expect(sim.files()).toContainEqual({ name: 'cube.gcode.3mf', size: CUBE.length });
    await expect(ftpsClient(sim, 'nope')).rejects.toThrow(/530|incorrect/i);
    const client = await ftpsClient(sim);
    expect(await client.size('cube.gcode.3mf')).toBe(CUBE.length);
    client.close();
  });

  it('runs PREPARE → RUNNING → FINISH from project_file, and FINISH stays', async () => {
    const { sim, rc } = fast;
    const states: string[] = [];
    sim.on('state', (e) => states.push(e.state));
    const from = rc.messages.length;
    await rc.request(projectFile('100', 'cube.gcode.3mf'));
    const ack = await rc.waitFor(isAck('project_file', '100'), 5000);
    expect(ack.print.result).toBe('success');
    await rc.waitFor(stateIs('FINISH'), 10_000, 'FINISH');

    const reports = rc.messages.slice(from).map((m) => m.print ?? {});
    expect(states).toEqual(['PREPARE', 'RUNNING', 'FINISH']);
    // Bed levelling stage (1) was planned because bed_leveling was true; flow calibration (8) was not.
    const stg = reports.find((p) => Array.isArray(p.stg) && p.stg.length)?.stg;
    expect(stg).toContain(1);
    expect(stg).not.toContain(8);
    const running = reports.filter((p) => typeof p.mc_percent === 'number' && p.mc_percent > 0 && p.mc_percent < 100);
    expect(running.length).toBeGreaterThan(1);
    const percents = running.map((p) => p.mc_percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(reports.some((p) => p.total_layer_num === 90)).toBe(true); // from the plate G-code header
    expect(reports.some((p) => p.subtask_id === 'S100')).toBe(true);

    const stays = rc.messages.length;
    await rc.request({ pushing: { sequence_id: '101', command: 'pushall' } });
    const full = await rc.waitFor((m) => m.print?.msg === 0 && rc.messages.indexOf(m) >= stays, 5000);
    expect(full.print.gcode_state).toBe('FINISH');
    expect(full.print.mc_percent).toBe(100);
    expect(full.print.layer_num).toBe(90);
    expect(full.print.subtask_id).toBe('S100');
    expect(full.print.task_id).toBe('T100');
    expect(sim.gcodeState).toBe('FINISH');
  });

  it('refuses a start while busy and keeps the running job', async () => {
    await rc.request(projectFile('200', 'cube.gcode.3mf', { subtask_id: 'S200' }));
    await rc.waitFor(isAck('project_file', '200'), 5000);
    sim.injectError({ printError: 0x03008015 }); // hold it in PAUSE so it stays busy
    expect(sim.gcodeState).toBe('PAUSE');
    await rc.request(projectFile('201', 'cube.gcode.3mf', { subtask_id: 'S201' }));
    const nack = await rc.waitFor(isAck('project_file', '201'), 5000);
    expect(nack.print.result).toBe('failed');
    expect(nack.print.print_error).toBe(ERR.BUSY);
    expect(sim.gcodeState).toBe('PAUSE');
    expect(sim.status.subtask_id).toBe('S200');
  });

  it('refuses a missing file and an MD5 mismatch with print_error + failed ack', async () => {
    await rc.request(projectFile('300', 'nothere.gcode.3mf'));
    const missing = await rc.waitFor(isAck('project_file', '300'), 5000);
    expect(missing.print.result).toBe('failed');
    expect(missing.print.print_error).toBe(ERR.FILE_MISSING);
    await rc.waitFor((m) => m.print?.gcode_state === 'FAILED' && m.print.print_error === ERR.FILE_MISSING, 5000);

    sim.setState({ gcode_state: 'IDLE', print_error: 0 });
    await rc.request(projectFile('301', 'cube.gcode.3mf', { md5: '00000000000000000000000000000000' }));
    const bad = await rc.waitFor(isAck('project_file', '301'), 5000);
    expect(bad.print.result).toBe('failed');
    expect(bad.print.print_error).toBe(ERR.FILE_UNPARSABLE);
    await rc.waitFor((m) => m.print?.gcode_state === 'FAILED' && m.print.print_error === ERR.FILE_UNPARSABLE, 5000);
  });

  it('stop → FAILED with the 0300_400C cancel echo', async () => {
    await rc.request(projectFile('400', 'cube.gcode.3mf', { subtask_id: 'S400' }));
    await rc.waitFor(isAck('project_file', '400'), 5000);
    sim.injectError({ printError: 0x03008015 }); // paused, so the stop surely hits an active job
    await rc.request({ print: { sequence_id: '401', command: 'stop', param: '' } });
    const ack = await rc.waitFor(isAck('stop', '401'), 5000);
    expect(ack.print.result).toBe('success');
    const failed = await rc.waitFor((m) => m.print?.gcode_state === 'FAILED', 5000, 'FAILED');
    expect(failed.print.print_error).toBe(50348044);
    expect(failed.print.mc_percent ?? 0).toBe(0);
    expect(sim.gcodeState).toBe('FAILED');
  });

  it('injected errors show in print_error / hms; pause/resume work', async () => {
    await rc.request(projectFile('500', 'cube.gcode.3mf', { subtask_id: 'S500' }));
    await rc.waitFor(isAck('project_file', '500'), 5000);
    sim.injectError({ printError: 0x03008015, hms: [{ attr: 0x03000100, code: 0x00010007 }] });
    const paused = await rc.waitFor((m) => m.print?.gcode_state === 'PAUSE' && m.print.print_error === 0x03008015);
    expect(paused.print.hms).toEqual([{ attr: 0x03000100, code: 0x00010007 }]);
    await rc.request({ print: { sequence_id: '501', command: 'resume', param: '' } });
    expect((await rc.waitFor(isAck('resume', '501'), 5000)).print.result).toBe('success');
    expect(sim.gcodeState).toBe('PREPARE');
    sim.injectError({ printError: 0x0300400d }); // 0x4xxx: fatal → FAILED
    expect(sim.gcodeState).toBe('FAILED');
    sim.clearError();
    await rc.waitFor((m) => m.print?.print_error === 0 && Array.isArray(m.print.hms) && m.print.hms.length === 0);
  });

  it('finishNow jumps an active job to FINISH', async () => {
    await rc.request(projectFile('600', 'cube.gcode.3mf', { subtask_id: 'S600' }));
    await rc.waitFor(isAck('project_file', '600'), 5000);
    sim.finishNow();
    expect(sim.gcodeState).toBe('FINISH');
    expect(sim.status.subtask_id).toBe('S600');
  });
});

describe('Bambu simulator FTPS quirks', () => {
  const sim = new BambuSimulator();
  beforeAll(() => sim.start());
  afterAll(() => sim.stop());

  it('hang mode: the file lands but 226 never comes over a TLS data channel; PROT C completes', async () => {
    sim.setFtpsMode('hang');
    const client = await ftpsClient(sim);
    const data = Buffer.alloc(50_000, 7);
    const hung = await Promise.race([
      client.uploadFrom(Readable.from([data]), 'hang.gcode.3mf').then(() => 'done'),
      new Promise((r) => setTimeout(() => r('hung'), 1500)),
    ]);
    expect(hung).toBe('hung');
    expect(sim.files()).toContainEqual({ name: 'hang.gcode.3mf', size: data.length });
    client.close();

    const clear = await ftpsClient(sim);
    await useClearDataChannel(clear);
    await clear.uploadFrom(Readable.from([data]), 'clear.gcode.3mf');
    expect(await clear.size('clear.gcode.3mf')).toBe(data.length);
    clear.close();
    sim.setFtpsMode('normal');
  });

  it('requires TLS session reuse on the data channel (522 otherwise), as vsFTPd on the printers', async () => {
    const client = await ftpsClient(sim);
    // basic-ftp 6.2.3 resumes the control session: listing works.
    expect(Array.isArray(await client.list())).toBe(true);
    // A client that opens a fresh TLS session for data is refused.
    client.prepareTransfer = async (ftp: FTPContext) => {
      const res = await ftp.request('PASV');
      const m = /(\d+),(\d+)\)?\s*$/.exec(res.message)!;
      const socket = tlsConnect({
        host: sim.host,
        port: Number(m[1]) * 256 + Number(m[2]),
        ca: sim.caCertPem,
        servername: sim.serial,
      });
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      ftp.dataSocket = socket;
      return res;
    };
    await expect(client.uploadFrom(Readable.from([Buffer.alloc(10)]), 'fresh.gcode.3mf')).rejects.toThrow(/522/);
    client.close();
  });

  it('slow mode throttles but completes', async () => {
    sim.setFtpsMode('slow');
    const client = await ftpsClient(sim);
    await client.uploadFrom(Readable.from([Buffer.alloc(20_000, 1)]), 'slow.gcode.3mf');
    expect(await client.size('slow.gcode.3mf')).toBe(20_000);
    client.close();
    sim.setFtpsMode('normal');
  });
});
