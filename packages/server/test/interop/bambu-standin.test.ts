/**
 * Interop: the real server and the real Bambu driver against an independent printer stand-in
 * (bambu-standin.ts, built from docs/bambu-protocol.md and real payloads only, never from our own
 * simulator). The stand-in's certificate is self-signed with CN = serial and the printer is added
 * with the api.md connection fields only, so the driver's trust-on-first-use path is exercised.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus, type DomainEvent } from '../../src/events/bus.ts';
import { BambuDriver, type BambuDriverOptions } from '../../src/printers/bambu/driver.ts';
import { storageFileName } from '../../src/printers/bambu/storage-name.ts';
import type { DriverContext, StartJobRequest } from '../../src/printers/driver.ts';
import { defaultPrinterSettings, type PrinterState } from '../../src/printers/model.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';
import { setupAdmin, startTestServer, type TestServer, tempDir } from '../helpers/server.ts';
import { BambuStandIn, md5Upper, readFixture, realDeltas, type StandInOptions, stringifyNumbers } from './bambu-standin.ts';

const FIXTURE_3MF = path.join(BAMBU_FIXTURES, 'fdm-monster.bambu.gcode.3mf');

async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/**
 * The stand-in answers get_version as an A1 mini (the case file ../shared/cases/bambu-model-from-printer),
 * matching the A1 mini .gcode.3mf these tests queue: files are matched against what a printer says it is.
 */
const A1_MINI_VERSION = () =>
  JSON.parse(
    fs.readFileSync(path.resolve(import.meta.dirname, '../../../../../shared/cases/bambu-model-from-printer/get_version.json'), 'utf8'),
  );

async function standIn(o: StandInOptions = {}): Promise<BambuStandIn> {
  const s = new BambuStandIn({ version: A1_MINI_VERSION(), ...o });
  await s.start();
  cleanups.push(() => s.stop());
  return s;
}

/** The api.md connection fields, nothing else (no caCertPem, no insecureTls). */
const connectionOf = (s: BambuStandIn) => ({
  host: s.host,
  serial: s.serial,
  accessCode: s.accessCode,
  mqttPort: s.ports.mqtt,
  ftpsPort: s.ports.ftps,
  cameraPort: s.ports.camera,
});

interface Http {
  server: TestServer;
  token: string;
  events: DomainEvent[];
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  printer(id: string): Promise<any>;
}

async function startHttp(): Promise<Http> {
  const server = await startTestServer();
  cleanups.push(() => server.destroy());
  const { accessToken } = await setupAdmin(server);
  const events: DomainEvent[] = [];
  server.infra.bus.onAny(events, (e) => events.push(e));
  const api = (method: string, url: string, body?: unknown) => server.api(method, url, { token: accessToken, body });
  return { server, token: accessToken, events, api, printer: async (id) => (await api('GET', `/api/v1/printers/${id}`)).body };
}

async function addPrinter(h: Http, s: BambuStandIn): Promise<string> {
  const res = await h.api('POST', '/api/v1/printers', { name: 'A1-standin', driver: 'bambu', model: 'A1 mini', connection: connectionOf(s) });
  expect(res.status).toBe(201);
  expect(JSON.stringify(res.body)).not.toContain(s.accessCode);
  return res.body.id as string;
}

async function uploadAs(h: Http): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(fs.readFileSync(FIXTURE_3MF))]), 'cube.gcode.3mf');
  const res = await h.server.api('POST', '/api/v1/files', { token: h.token, body: form });
  if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

const statusesOf = (events: DomainEvent[], id: string) =>
  events.filter((e) => e.type === 'printer.state' && (e.data as any).printerId === id).map((e) => (e.data as any).state.status as string);

describe('Bambu driver against an independent stand-in, through the HTTP API', () => {
  it('trusts the self-signed CN=serial certificate, waits for the full report, uploads over FTPS, starts with a doc-shaped project_file and follows the job to done', async () => {
    const s = await standIn({ holdFullReport: true, holdRunning: true });
    const h = await startHttp();
    const id = await addPrinter(h, s);

    // Connected and asked for pushall; real idle deltas arrive but no full report yet → unknown.
    await waitFor(() => s.requests.some((r) => r.pushing?.command === 'pushall'), 'pushall request');
    expect(s.requests.some((r) => r.info?.command === 'get_version')).toBe(true);
    for (const line of realDeltas().slice(0, 2)) s.publish(line);
    const before = await waitFor(async () => {
      const p = await h.printer(id);
      return p.state.updatedAt && p;
    }, 'a delta seen');
    expect(before.state.status).toBe('unknown');
    expect(before.state.fullStatus).toBe(false);

    s.releaseFullReport();
    const idle = await waitFor(async () => {
      const p = await h.printer(id);
      return p.state.status === 'idle' && p;
    }, 'idle');
    expect(idle.state.fullStatus).toBe(true);
    // Temperatures verbatim from the A1 fixture's full report.
    expect(idle.state.temperatures.nozzle).toMatchObject({ actual: 27.8125, target: 0 });
    expect(idle.state.temperatures.bed).toMatchObject({ actual: 29.75, target: 0 });
    const seen = statusesOf(h.events, id);
    expect(seen).toContain('connecting');
    expect(seen.indexOf('unknown')).toBeGreaterThan(-1);
    expect(seen.indexOf('idle')).toBeGreaterThan(seen.indexOf('unknown'));
    expect(seen.indexOf('idle')).toBeGreaterThan(seen.indexOf('connecting'));

    // Upload the real .gcode.3mf and queue one copy.
    const fileId = await uploadAs(h);
    const item = await h.api('POST', '/api/v1/queue', { fileId, copies: 1 });
    expect(item.status).toBe(201);

    const pf = await waitFor(() => s.requests.find((r) => r.print?.command === 'project_file')?.print, 'project_file');
    // The file reached the stand-in over FTPS before the start command, and the md5 matches its bytes.
    expect(s.uploads.size).toBe(1);
    const [remotePath, bytes] = [...s.uploads.entries()][0]!;
    expect(bytes.equals(fs.readFileSync(FIXTURE_3MF))).toBe(true);
    expect(pf.md5).toBe(md5Upper(bytes));
    expect(pf.md5).toMatch(/^[0-9A-F]{32}$/);
    expect(pf.param).toBe('Metadata/plate_1.gcode');
    expect(typeof pf.url).toBe('string');
    expect(pf.url).toMatch(/^(ftp|file):\/\//);
    expect(pf.url.endsWith(path.posix.basename(remotePath))).toBe(true);
    for (const k of ['bed_leveling', 'flow_cali', 'timelapse', 'use_ams']) expect(typeof pf[k], k).toBe('boolean');
    expect(pf.timelapse).toBe(false);
    expect(typeof pf.subtask_name).toBe('string');
    expect(pf.subtask_name.length).toBeGreaterThan(0);
    expect(typeof pf.sequence_id).toBe('string');
    for (const k of ['task_id', 'subtask_id']) {
      expect(pf[k], k).toMatch(/^\d+$/);
      expect(Number(pf[k])).toBeGreaterThan(0);
      expect(Number(pf[k])).toBeLessThan(2 ** 31);
    }

    // Printing, with progress from the stand-in's deltas (remaining time is minutes on the wire).
    const printing = await waitFor(async () => {
      const p = await h.printer(id);
      return p.state.status === 'printing' && p.state.progress === 88 && p;
    }, 'printing at 88 %');
    expect(printing.state.remainingSeconds).toBe(180);
    expect(printing.state.layer).toEqual({ current: 22, total: 25 });
    expect(printing.state.temperatures.nozzle).toMatchObject({ actual: 220, target: 220 });
    expect(printing.state.job).toMatchObject({ plate: 1 });
    const q1 = await h.api('GET', '/api/v1/queue');
    expect(q1.body.items[0]).toMatchObject({ status: 'printing', currentPrinterId: id });

    s.finishPrint();
    const fin = await waitFor(async () => {
      const p = await h.printer(id);
      return p.state.lastJob?.outcome === 'finished' && p;
    }, 'finished');
    expect(fin.state.lastJob.jobId).toBe(pf.subtask_id);
    expect(['finished', 'idle']).toContain(fin.state.status);
    const done = await waitFor(async () => {
      const q = await h.api('GET', '/api/v1/queue');
      return q.body.items[0]?.status === 'done' && q.body;
    }, 'queue item done');
    expect(done.items[0]).toMatchObject({ copiesDone: 1, copies: 1 });
    expect(s.requests.filter((r) => r.print?.command === 'project_file')).toHaveLength(1);
  }, 30_000);

  it('a printer that races through PREPARE → RUNNING → FINISH within a few milliseconds still completes the queue item', async () => {
    const s = await standIn({ stepMs: 3 });
    const h = await startHttp();
    const id = await addPrinter(h, s);
    await waitFor(async () => (await h.printer(id)).state.status === 'idle', 'idle');
    const fileId = await uploadAs(h);
    await h.api('POST', '/api/v1/queue', { fileId, copies: 1 });
    const done = await waitFor(async () => {
      const q = await h.api('GET', '/api/v1/queue');
      return q.body.items[0]?.status === 'done' && q.body;
    }, 'queue item done');
    expect(done.items[0]).toMatchObject({ copiesDone: 1 });
    expect(s.requests.filter((r) => r.print?.command === 'project_file')).toHaveLength(1);
    expect(h.events.some((e) => e.type === 'job.finished')).toBe(true);
  }, 30_000);

  it('an HMS fault in a real-shaped report pauses the queue with an alert', async () => {
    const s = await standIn({ holdRunning: true });
    const h = await startHttp();
    const id = await addPrinter(h, s);
    await waitFor(async () => (await h.printer(id)).state.status === 'idle', 'idle');
    const fileId = await uploadAs(h);
    await h.api('POST', '/api/v1/queue', { fileId, copies: 2 });
    await waitFor(async () => (await h.printer(id)).state.progress === 88, 'printing');
    // Real PAUSE delta (filament run-out print_error) plus a full hms list, as firmware sends it.
    const pause = realDeltas()[2]!;
    s.publish({ print: { ...pause.print, hms: [{ attr: 50331904, code: 65543 }], sequence_id: '768' } });
    const alert = await waitFor(
      () => h.events.find((e) => e.type === 'alert' && (e.data as any).code === 'queue_paused_printer_error'),
      'queue paused alert',
    );
    expect(alert.data).toMatchObject({ level: 'error', printerId: id });
    const p = await h.printer(id);
    expect(p.state.status).toBe('error');
    expect(JSON.stringify(p.state.error)).toMatch(/0300_8015|0300_0100_0001_0007/);
    expect((await h.api('GET', '/api/v1/queue')).body.running).toBe(false);
    expect(s.requests.filter((r) => r.print?.command === 'project_file')).toHaveLength(1);
  }, 30_000);
});

// ---- driver-level variations -------------------------------------------------------------------

interface DriverRig {
  driver: BambuDriver;
  states: PrinterState[];
  last(): PrinterState;
}

async function driverRig(
  s: BambuStandIn,
  options: BambuDriverOptions = {},
  connection: Record<string, unknown> = {},
): Promise<DriverRig> {
  const states: PrinterState[] = [];
  const dataDir = tempDir('rwc-interop-');
  const ctx: DriverContext = {
    printerId: 'p1',
    printerName: 'A1-standin',
    model: 'A1',
    connection: { ...connectionOf(s), ...connection },
    settings: defaultPrinterSettings,
    clock: systemClock,
    logger: silentLogger(),
    bus: new EventBus(),
    dataDir,
    onState: (st) => states.push(st),
  };
  // A short reconnect delay: the first TLS handshake is refused until the certificate is pinned.
  const driver = new BambuDriver(ctx, {
    commandTimeoutMs: 5_000,
    startConfirmTimeoutMs: 5_000,
    ...options,
    timing: { reconnectBaseMs: 100, reconnectMaxMs: 400, ...options.timing },
  });
  await driver.start();
  cleanups.push(async () => {
    await driver.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return { driver, states, last: () => driver.getState() };
}

function jobRequest(jobId: string): StartJobRequest {
  const bytes = fs.readFileSync(FIXTURE_3MF);
  return {
    jobId,
    localPath: FIXTURE_3MF,
    fileName: 'cube.gcode.3mf',
    fileSize: bytes.length,
    fileMd5: createHash('md5').update(bytes).digest('hex'),
    plate: 1,
    gcodePath: 'Metadata/plate_1.gcode',
    overrides: { bedLeveling: true, flowCalibration: false, timelapse: false },
    jobName: 'cube',
  };
}

describe('third-party variations the driver must tolerate', () => {
  it('numbers sent as strings in full and delta reports', async () => {
    const s = await standIn({ mapPrint: stringifyNumbers, holdRunning: true });
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    expect(r.last().temperatures.nozzle).toMatchObject({ actual: 27.8125, target: 0 });
    await r.driver.startJob(jobRequest('424242'));
    await waitFor(() => r.last().progress === 88, 'progress 88');
    expect(r.last()).toMatchObject({ status: 'printing', remainingSeconds: 180, layer: { current: 22, total: 25 } });
    expect(s.uploads.size).toBe(1);
    s.finishPrint();
    // The driver reports FINISH as idle + lastJob finished (the fleet derives the rest).
    await waitFor(() => r.last().lastJob?.outcome === 'finished', 'finished');
    expect(r.last().lastJob).toMatchObject({ jobId: '424242', outcome: 'finished' });
    expect(r.last()).toMatchObject({ status: 'idle', progress: 100 });
  });

  it('the full report arriving in two messages: idle only once the state is in, temperatures from both halves', async () => {
    const s = await standIn({ splitFullReport: true });
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    expect(r.last().temperatures.nozzle?.actual).toBe(27.8125);
    expect(r.last().temperatures.bed?.actual).toBe(29.75);
    // The msg-0 half alone (temperatures, no gcode_state) is not a job state the queue could trust.
    const firstFull = r.states.findIndex((st) => st.fullStatus);
    expect(r.states[firstFull]?.status).toBe('unknown');
    expect(r.states[firstFull]?.temperatures.bed?.actual).toBe(29.75);
  });

  it('a delta without `msg` is merged like any delta', async () => {
    const s = await standIn();
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    const { msg: _msg, ...noMsg } = realDeltas()[0]!.print;
    s.publish({ print: noMsg });
    await waitFor(() => r.last().temperatures.bed?.actual === 11.96875, 'bed temperature from the delta');
    expect(r.last().status).toBe('idle');
  });

  it('no `msg` field at all (full pushes and deltas): trusted once a push carries gcode_state, deltas still merge', async () => {
    const dropMsg = ({ msg: _msg, ...rest }: Record<string, any>) => rest;
    const s = await standIn({ mapPrint: dropMsg, holdRunning: true });
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    expect(r.last().temperatures.bed?.actual).toBe(29.75);
    await r.driver.startJob(jobRequest('777'));
    await waitFor(() => r.last().progress === 88, 'progress 88');
    // Deltas without gcode_state merged into the document, not replacing it.
    expect(r.last()).toMatchObject({ status: 'printing', layer: { current: 22, total: 25 }, remainingSeconds: 180 });
    expect(r.last().temperatures.nozzle).toMatchObject({ actual: 220, target: 220 });
  });

  it('real P1P (FAILED) and X1C multi-AMS (FINISH) full reports: ready printers with the right temperatures', async () => {
    const p1p = readFixture('ha-bambulab.P1P.json').push_all;
    const s1 = await standIn({ fullReport: { print: p1p } });
    const r1 = await driverRig(s1);
    await waitFor(() => r1.last().status === 'idle', 'P1P idle');
    expect(r1.last().temperatures.nozzle?.actual).toBe(p1p.nozzle_temper);
    expect(r1.last().temperatures.bed?.actual).toBe(p1p.bed_temper);
    expect(r1.last().lastJob?.outcome).toBe('failed');

    const x1c = readFixture('ha-bambulab.MOCK-X1CMULTIAMS.json').pushall;
    const s2 = await standIn({ fullReport: x1c, serial: '00M09A350100123' });
    const r2 = await driverRig(s2);
    await waitFor(() => r2.last().status === 'idle', 'X1C idle');
    expect(r2.last().lastJob?.outcome).toBe('finished');
    expect(r2.last().temperatures.nozzle?.actual).toBe(x1c.print.nozzle_temper);
  });

  it('a status message without `command` but with `msg` is still read as a status report', async () => {
    const s = await standIn({ mapPrint: ({ command: _c, ...rest }) => rest });
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    s.delta({ bed_temper: 41.5 });
    await waitFor(() => r.last().temperatures.bed?.actual === 41.5, 'delta merged');
  });

  it('the broker drops the session: unknown until a fresh full report after the reconnect', async () => {
    const s = await standIn();
    const r = await driverRig(s, { timing: { reconnectBaseMs: 100, reconnectMaxMs: 200 } });
    await waitFor(() => r.last().status === 'idle', 'idle');
    const pushalls = s.requests.filter((q) => q.pushing?.command === 'pushall').length;
    s.dropClients();
    await waitFor(() => r.last().status !== 'idle', 'left idle');
    expect(r.last().fullStatus).toBe(false);
    await waitFor(() => r.last().status === 'idle', 'idle after reconnect', 10_000);
    expect(s.requests.filter((q) => q.pushing?.command === 'pushall').length).toBeGreaterThan(pushalls);
  });

  it('pause, resume and cancel: confirmed by the reports; a cancel echo (0300_400C) is a cancelled job, not a fault', async () => {
    const s = await standIn({ holdRunning: true, stepMs: 60 });
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    await r.driver.startJob(jobRequest('31337'));
    await waitFor(() => r.last().progress === 88, 'printing');
    await r.driver.pause();
    await waitFor(() => r.last().status === 'paused', 'paused');
    await r.driver.resume();
    await waitFor(() => r.last().status === 'printing', 'printing again');
    await r.driver.cancel();
    await waitFor(() => r.last().lastJob?.outcome === 'cancelled', 'cancelled');
    expect(r.last().lastJob?.jobId).toBe('31337');
    expect(r.last().status).not.toBe('error');
    await waitFor(() => r.last().status === 'idle', 'idle after the echo cleared');
    const sent = s.requests.map((q) => q.print?.command).filter(Boolean);
    expect(sent).toEqual(['project_file', 'pause', 'resume', 'stop']);
  });

  it('a wrong access code: CONNACK refused, a clear note, and no reconnect storm', async () => {
    const s = await standIn();
    const r = await driverRig(s, { timing: { reconnectBaseMs: 50, reconnectMaxMs: 100 } }, { accessCode: 'wrongone' });
    await waitFor(() => r.last().error?.code === 'wrong_access_code', 'wrong access code');
    expect(r.last().connectionNote).toMatch(/access code/);
    expect(r.last().status).not.toBe('idle');
    const attempts = s.connects;
    await new Promise((res) => setTimeout(res, 600));
    expect(s.connects).toBe(attempts);
    expect(s.requests).toHaveLength(0);
  });

  it('non-UTF-8 bytes (A1 mini) and a raw newline inside a string (X1) do not break the session', async () => {
    const s = await standIn();
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    const latin1 = Buffer.concat([
      Buffer.from('{"print":{"bed_temper":33.5,"subtask_name":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('","command":"push_status","msg":1,"sequence_id":"401"}}'),
    ]);
    s.publishRaw(latin1);
    await waitFor(() => r.last().temperatures.bed?.actual === 33.5, 'latin-1 delta merged');
    // '\n' in this source string is a real line feed inside the JSON string value.
    s.publishRaw(Buffer.from('{"print":{"nozzle_temper":30.25,"gcode_file":"line1\nline2","command":"push_status","msg":1,"sequence_id":"402"}}'));
    await waitFor(() => r.last().temperatures.nozzle?.actual === 30.25, 'delta with a raw newline merged');
    expect(r.last().status).toBe('idle');
  });

  it('FTPS that requires TLS session reuse on the data channel (vsFTPd): the upload resumes the control session', async () => {
    const s = await standIn({ requireSessionReuse: true, stepMs: 20 });
    const r = await driverRig(s);
    await waitFor(() => r.last().status === 'idle', 'idle');
    await r.driver.startJob(jobRequest('5150'));
    expect(s.dataSessions.fresh).toBe(0);
    expect(s.dataSessions.reused).toBeGreaterThan(0);
    const req = jobRequest('5150');
    expect(s.uploads.get(`/${storageFileName(req.fileName, req.fileMd5)}`)?.equals(fs.readFileSync(FIXTURE_3MF))).toBe(true);
  });

  it('silence longer than the stale limit → unknown (stale); reports coming back → idle again', async () => {
    // The server's staleAfterSeconds is not passed to the Bambu driver: the limit is the driver's
    // own LinkTiming.staleAfterMs, so this maps silence → unknown with the driver directly.
    const s = await standIn();
    const r = await driverRig(s, { timing: { staleAfterMs: 400, pushallGraceMs: 60_000 } });
    await waitFor(() => r.last().status === 'idle', 'idle');
    s.silent = true;
    await waitFor(() => r.last().status === 'unknown', 'unknown after silence', 5_000);
    expect(r.last().stale).toBe(true);
    // The watchdog asked the printer to resume pushing (pushing.start and/or pushall).
    await waitFor(() => s.requests.filter((q) => q.pushing).length > 1, 'pushing.start / pushall from the watchdog', 5_000);
    s.silent = false;
    s.pushFull();
    await waitFor(() => r.last().status === 'idle' && !r.last().stale, 'idle again', 5_000);
  });
});
