/**
 * The Bambu field cases (../shared/cases/bambu-*) with their inputs VERBATIM, played by the
 * independent stand-in (bambu-standin.ts, never our simulator) over real TLS MQTT and FTPS, to the
 * real driver and, where the queue is part of the case, to the real server.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus, type DomainEvent } from '../../src/events/bus.ts';
import { BambuDriver, type BambuDriverOptions } from '../../src/printers/bambu/driver.ts';
import { storageFileName } from '../../src/printers/bambu/storage-name.ts';
import { type DriverContext, StartRefusedError, type StartJobRequest } from '../../src/printers/driver.ts';
import { defaultPrinterSettings, type PrinterState } from '../../src/printers/model.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';
import { setupAdmin, startTestServer, tempDir } from '../helpers/server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { BambuStandIn, type StandInOptions } from './bambu-standin.ts';

const CASES = path.resolve(import.meta.dirname, '../../../../../shared/cases');
const caseJson = (...p: string[]) => JSON.parse(fs.readFileSync(path.join(CASES, ...p), 'utf8'));
const FIXTURE_3MF = path.join(BAMBU_FIXTURES, 'fdm-monster.bambu.gcode.3mf'); // sliced for the A1 mini
/** The case's get_version answer: product_name "Bambu Lab A1 mini". */
const A1_MINI_VERSION = () => caseJson('bambu-model-from-printer', 'get_version.json');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function standIn(o: StandInOptions): Promise<BambuStandIn> {
  const s = new BambuStandIn(o);
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

const connectionOf = (s: BambuStandIn) => ({
  host: s.host,
  serial: s.serial,
  accessCode: s.accessCode,
  mqttPort: s.ports.mqtt,
  ftpsPort: s.ports.ftps,
  cameraPort: s.ports.camera,
});

async function driverFor(s: BambuStandIn, model: string | null, options: BambuDriverOptions = {}) {
  const states: PrinterState[] = [];
  const dataDir = tempDir('rwc-interop-cases-');
  const ctx: DriverContext = {
    printerId: 'p1',
    printerName: 'standin',
    model,
    connection: connectionOf(s),
    settings: defaultPrinterSettings,
    clock: systemClock,
    logger: silentLogger(),
    bus: new EventBus(),
    dataDir,
    onState: (st) => states.push(st),
  };
  // The stand-in's certificate is self-signed: the first handshake is refused until it is pinned.
  const driver = new BambuDriver(ctx, {
    commandTimeoutMs: 5_000,
    ...options,
    timing: { reconnectBaseMs: 100, reconnectMaxMs: 400, ...options.timing },
  });
  await driver.start();
  cleanups.push(async () => {
    await driver.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return { driver, states };
}

function jobRequest(jobId: string, fileName = 'cube.gcode.3mf'): StartJobRequest {
  const bytes = fs.readFileSync(FIXTURE_3MF);
  return {
    jobId,
    localPath: FIXTURE_3MF,
    fileName,
    fileSize: bytes.length,
    fileMd5: createHash('md5').update(bytes).digest('hex'),
    plate: 1,
    gcodePath: 'Metadata/plate_1.gcode',
    overrides: { bedLeveling: true, flowCalibration: false, timelapse: false },
    jobName: fileName.replace(/\.gcode\.3mf$/, ''),
  };
}

async function serverWith(s: BambuStandIn, model: string | null) {
  const server = await startTestServer();
  cleanups.push(() => server.destroy());
  const { accessToken } = await setupAdmin(server);
  const events: DomainEvent[] = [];
  server.infra.bus.onAny(events, (e) => events.push(e));
  const api = (method: string, url: string, body?: unknown) => server.api(method, url, { token: accessToken, body });
  const res = await api('POST', '/api/v1/printers', { name: 'standin', driver: 'bambu', model, connection: connectionOf(s) });
  expect(res.status).toBe(201);
  const id = res.body.id as string;
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(fs.readFileSync(FIXTURE_3MF))]), 'cube.gcode.3mf');
  const file = await api('POST', '/api/v1/files', form);
  expect(file.status).toBe(201);
  return { server, api, events, id, fileId: file.body.id as string };
}

describe('bambu-hms-unlisted (report.json verbatim)', () => {
  it('an idle full report with an unlisted HMS entry: idle, a note, no error — and the printer gets a job', async () => {
    const report = caseJson('bambu-hms-unlisted', 'report.json');
    const s = await standIn({ fullReport: report, version: A1_MINI_VERSION() });
    const { driver } = await driverFor(s, null);
    const st = await waitFor(() => driver.getState().status === 'idle' && driver.getState(), 'idle');
    expect(st.error).toBeNull();
    expect(st.notices).toEqual([
      expect.objectContaining({
        level: 'info',
        code: 'HMS_0500_0600_0002_0070',
        params: { hms: '0500_0600_0002_0070', severity: 'serious', listed: false },
      }),
    ]);
    expect(st.notices[0]!.messages?.zh).toContain('HMS_0500_0600_0002_0070');
    await driver.startJob(jobRequest('4242'));
    expect(['preparing', 'printing']).toContain(driver.getState().status);
  });

  it('through the server: the gate is open and the queue sends the job', async () => {
    const report = caseJson('bambu-hms-unlisted', 'report.json');
    const s = await standIn({ fullReport: report, version: A1_MINI_VERSION() });
    const h = await serverWith(s, null);
    const idle = await waitFor(async () => {
      const p = (await h.api('GET', `/api/v1/printers/${h.id}`)).body;
      return p.state.status === 'idle' && p.state.reported.model === 'A1 mini' && p;
    }, 'idle with its model');
    expect(idle.state.gate.open).toBe(true);
    expect(idle.state.notices).toHaveLength(1);
    expect(idle.state.notices[0]).toMatchObject({ level: 'info', code: 'HMS_0500_0600_0002_0070' });
    await h.api('POST', '/api/v1/queue', { fileId: h.fileId });
    await waitFor(() => s.requests.some((r) => r.print?.command === 'project_file'), 'project_file sent');
  });
});

describe('bambu-hms-notice-while-printing (delta.json verbatim)', () => {
  it('the notice is a warning, the printer stays printing, the queue is not paused; a PAUSE with print_error pauses it', async () => {
    const s = await standIn({ holdRunning: true, stepMs: 80, version: A1_MINI_VERSION() });
    const h = await serverWith(s, 'A1 mini');
    await waitFor(async () => (await h.api('GET', `/api/v1/printers/${h.id}`)).body.state.status === 'idle', 'idle');
    await h.api('POST', '/api/v1/queue', { fileId: h.fileId, copies: 2 });
    await waitFor(async () => (await h.api('GET', `/api/v1/printers/${h.id}`)).body.state.status === 'printing', 'printing');
    s.publish(caseJson('bambu-hms-notice-while-printing', 'delta.json'));
    const p = await waitFor(async () => {
      const body = (await h.api('GET', `/api/v1/printers/${h.id}`)).body;
      return body.state.notices.length > 0 && body;
    }, 'notice');
    expect(p.state.status).toBe('printing');
    expect(p.state.error).toBeNull();
    expect(p.state.progress).toBe(3);
    expect(p.state.notices).toEqual([
      expect.objectContaining({ level: 'warning', code: 'HMS_0C00_0300_0002_0004', params: expect.objectContaining({ listed: true }) }),
    ]);
    await sleep(300);
    expect((await h.api('GET', '/api/v1/queue')).body.running).toBe(true);
    expect(h.events.some((e) => e.type === 'alert' && (e.data as any).code === 'queue_paused_printer_error')).toBe(false);

    // The real run-out pause delta (delta-reports.real-captures.jsonl): the printer stopped.
    s.delta({ gcode_state: 'PAUSE', mc_print_stage: '3', print_error: 50364437 });
    await waitFor(async () => (await h.api('GET', '/api/v1/queue')).body.running === false, 'queue paused');
    const stopped = (await h.api('GET', `/api/v1/printers/${h.id}`)).body;
    expect(stopped.state.status).toBe('error');
    expect(stopped.state.error).toMatchObject({ code: '0300_8015' });
  });
});

describe('bambu-err-code-refusal (ack.json verbatim)', () => {
  it('the echo with err_code 84033543 refuses the start at once: not started, LAN Only + Developer Mode hint', async () => {
    const template = fs.readFileSync(path.join(CASES, 'bambu-err-code-refusal', 'ack.json'), 'utf8');
    const s = await standIn({
      version: A1_MINI_VERSION(),
      projectFileAnswer: (req) =>
        JSON.parse(template.replace('<the sequence_id of the project_file that was sent>', String(req.sequence_id))),
    });
    // An hour-long start watchdog: nothing but the refusal can end this start within the test.
    const { driver } = await driverFor(s, null, { startConfirmTimeoutMs: 3_600_000 });
    await waitFor(() => driver.getState().status === 'idle', 'idle');
    const err = await driver.startJob(jobRequest('777')).catch((e) => e);
    expect(err).toBeInstanceOf(StartRefusedError);
    expect(err.code).toBe('verify_failed');
    expect(err.params).toMatchObject({ errCode: 84033543, errCodeHex: '0x05024007', command: 'project_file' });
    expect(err.message).toMatch(/LAN Only.*Developer Mode/);
    const st = await waitFor(() => driver.getState().status === 'error' && driver.getState(), 'error');
    expect(st.error).toMatchObject({ code: 'verify_failed' });
    expect(st.error!.messages?.zh).toContain('开发者模式');
    // Refused, so never re-sent.
    await sleep(200);
    expect(s.requests.filter((r) => r.print?.command === 'project_file')).toHaveLength(1);
  });
});

describe('bambu-model-from-printer (get_version.json verbatim)', () => {
  it('a printer added without a model reports its model and nozzle', async () => {
    const s = await standIn({ version: A1_MINI_VERSION() });
    const { driver } = await driverFor(s, null);
    const st = await waitFor(
      () => (driver.getState().reported.model && driver.getState().reported.nozzleDiameter ? driver.getState() : null),
      'reported model and nozzle',
    );
    expect(st.reported).toMatchObject({ model: 'A1 mini', nozzleDiameter: 0.4, firmware: '01.08.00.00' });
  });
});

describe('bambu-file-name-chars (a FAT storage answering 553, as in ftps-transcript.txt)', () => {
  it('L|R.gcode.3mf goes to the printer under a name FAT accepts', async () => {
    const s = await standIn({ fatStorage: true, version: A1_MINI_VERSION() });
    const { driver } = await driverFor(s, null);
    await waitFor(() => driver.getState().status === 'idle', 'idle');
    const req = jobRequest('888', 'L|R.gcode.3mf');
    await driver.startJob(req);
    const stored = storageFileName('L|R.gcode.3mf', req.fileMd5);
    expect([...s.uploads.keys()]).toEqual([`/${stored}`]);
    expect(s.refusedNames).toEqual([]);
    const pf = s.requests.find((r) => r.print?.command === 'project_file')!.print;
    expect(pf.file).toBe(stored);
    expect(pf.subtask_name).toBe('L|R');
  });
});
