/**
 * A deliberately minimal Bambu Lab printer stand-in, written from docs/bambu-protocol.md only (it
 * shares nothing with packages/simulators): aedes MQTT 3.1.1 over TLS (user `bblp`, password = access
 * code, topics device/<serial>/report + /request) and implicit FTPS with ftp-srv, both on one
 * self-signed certificate whose CN is the serial, made with the openssl CLI and served without any
 * chain. Reports are real payloads from ../shared/fixtures/bambu, published verbatim.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Aedes } from 'aedes';
import { FtpSrv } from 'ftp-srv';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';

type Json = Record<string, any>;

export function readFixture(name: string): Json {
  return JSON.parse(fs.readFileSync(path.join(BAMBU_FIXTURES, name), 'utf8')) as Json;
}

/** The real delta lines (msg 1) of delta-reports.real-captures.jsonl. */
export function realDeltas(): Json[] {
  return fs
    .readFileSync(path.join(BAMBU_FIXTURES, 'delta-reports.real-captures.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Json);
}

/** A1 full report (`pushall.print`, IDLE, msg 0, sequence_id "400") and its get_version answer. */
export function a1Fixture(): { full: Json; version: Json } {
  const f = readFixture('ha-bambulab.MOCK-A1.json');
  return { full: f.pushall, version: f.get_version };
}

/** A self-signed certificate with CN = serial, made by the openssl CLI (no CA, no chain). */
export function selfSignedCert(serial: string): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-standin-cert-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '3', '-subj', `/CN=${serial}`],
      { stdio: 'ignore' },
    );
    return { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const NUMERIC_FIELDS = ['msg', 'mc_percent', 'mc_remaining_time', 'layer_num', 'total_layer_num', 'nozzle_temper', 'bed_temper', 'nozzle_target_temper', 'bed_target_temper', 'stg_cur', 'print_error'];

/** Third-party variation: numbers as strings (the doc: "many numbers arrive as strings"). */
export function stringifyNumbers(print: Json): Json {
  const out = { ...print };
  for (const k of NUMERIC_FIELDS) if (typeof out[k] === 'number') out[k] = String(out[k]);
  return out;
}

export interface StandInOptions {
  serial?: string;
  accessCode?: string;
  /** The full report answered to pushall: `{print:{…, msg:0}}` (default: the A1 fixture). */
  fullReport?: Json;
  /** Answer pushall with the full report split over two messages (msg 0, then msg 1 with gcode_state). */
  splitFullReport?: boolean;
  /** Don't answer pushall until releaseFullReport(). */
  holdFullReport?: boolean;
  /** Step length of the PREPARE → RUNNING → FINISH timeline. */
  stepMs?: number;
  /** Stay RUNNING after the last progress step until finishPrint(). */
  holdRunning?: boolean;
  /** FTPS like vsFTPd: data connections must resume the control connection's TLS session. */
  requireSessionReuse?: boolean;
  /** Transform every outgoing status `print` block (variations). */
  mapPrint?: (print: Json) => Json;
  /** The get_version answer (`{info:{…}}`; its sequence_id is replaced by the request's). Default: the A1 fixture. */
  version?: Json;
  /**
   * Answers project_file instead of starting the job: the returned message is published as is
   * (e.g. a refusal echo with `err_code`); null = start the job as usual.
   */
  projectFileAnswer?: (request: Json) => Json | null;
  /**
   * Storage like the printers' FAT MicroSD card under vsFTPd: STOR of a name FAT cannot hold
   * (`\ : * ? " < > |`, control characters) gets `553 Could not create file.` (case bambu-file-name-chars).
   */
  fatStorage?: boolean;
}

/**
 * vsFTPd on real printers refuses a data connection that does not resume the control connection's
 * TLS session ("522 SSL connection failed: session reuse required", §1.11). ftp-srv has no such
 * switch, so its passive connector is wrapped: with `requireSessionReuse` set on the server's
 * options, a data socket that did not resume is dropped. Control and data servers share ticket keys
 * so that resumption is possible at all.
 */
function installSessionReuseCheck(): void {
  const PassiveConnector = createRequire(import.meta.url)('ftp-srv/src/connector/passive.js');
  if (PassiveConnector.prototype.__rwcReuseCheck) return;
  const original = PassiveConnector.prototype.setupServer;
  PassiveConnector.prototype.__rwcReuseCheck = true;
  PassiveConnector.prototype.setupServer = function (this: any, ...args: unknown[]) {
    return original.apply(this, args).then((dataServer: any) => {
      const opts = this.server?.options;
      if (opts?.requireSessionReuse && this.connection.secure) {
        dataServer.on('secureConnection', (socket: tls.TLSSocket & { connected?: boolean }) => {
          if (socket.isSessionReused()) opts.onDataSession?.(true);
          else {
            opts.onDataSession?.(false);
            socket.connected = false;
            socket.destroy();
          }
        });
      }
      return dataServer;
    });
  };
}

const silentBunyan: any = {
  child: () => silentBunyan,
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
};

export class BambuStandIn {
  readonly serial: string;
  readonly accessCode: string;
  readonly host = '127.0.0.1';
  readonly cert: { key: string; cert: string };
  readonly ports = { mqtt: 0, ftps: 0, camera: 1 };
  readonly requests: Json[] = [];
  readonly uploads = new Map<string, Buffer>();
  /** STOR names refused with 553 because FAT cannot hold them (fatStorage). */
  readonly refusedNames: string[] = [];
  /** MQTT CONNECT attempts that reached the broker (accepted or not). */
  connects = 0;
  /** Data connections that did / did not resume the control TLS session. */
  readonly dataSessions = { reused: 0, fresh: 0 };
  /** When true, nothing is published at all (a broker that stopped pushing, pitfall 10). */
  silent = false;
  #o: StandInOptions;
  #broker: any;
  #mqttServer: tls.Server | null = null;
  readonly #sockets = new Set<tls.TLSSocket>();
  #ftp: any;
  #ftpRoot: string;
  #seq = 1000;
  #base: Json;
  #pendingPushall = 0;
  #timers = new Set<NodeJS.Timeout>();
  #finishJob: (() => void) | null = null;

  constructor(o: StandInOptions = {}) {
    this.#o = o;
    this.serial = o.serial ?? '03919A3B0100254';
    this.accessCode = o.accessCode ?? '12345678';
    this.cert = selfSignedCert(this.serial);
    this.#base = structuredClone((o.fullReport ?? a1Fixture().full).print);
    this.#ftpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-standin-ftp-'));
  }

  get reportTopic(): string {
    return `device/${this.serial}/report`;
  }

  async start(): Promise<void> {
    this.#broker = await Aedes.createBroker({
      authenticate: (_client: any, username: string | undefined, password: Buffer | undefined, cb: any) => {
        this.connects++;
        const ok = username === 'bblp' && password?.toString() === this.accessCode;
        if (ok) return cb(null, true);
        const err: any = new Error('bad user name or password');
        err.returnCode = 4;
        cb(err, false);
      },
    });
    this.#broker.on('publish', (packet: any, client: any) => {
      if (!client || packet.topic !== `device/${this.serial}/request`) return;
      let body: Json;
      try {
        body = JSON.parse(packet.payload.toString());
      } catch {
        return;
      }
      this.requests.push(body);
      this.#onRequest(body);
    });
    this.#mqttServer = tls.createServer({ key: this.cert.key, cert: this.cert.cert }, this.#broker.handle);
    this.#mqttServer.on('secureConnection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((r) => this.#mqttServer!.listen(0, this.host, r));
    this.ports.mqtt = (this.#mqttServer.address() as AddressInfo).port;

    if (this.#o.requireSessionReuse) installSessionReuseCheck();
    // Two extra keys read by installSessionReuseCheck (ftp-srv keeps its options object as given).
    const ftpOptions: ConstructorParameters<typeof FtpSrv>[0] & Record<string, unknown> = {
      url: `ftps://${this.host}:0`,
      tls: { key: this.cert.key, cert: this.cert.cert, ticketKeys: randomBytes(48) },
      requireSessionReuse: this.#o.requireSessionReuse === true,
      onDataSession: (reused: boolean) => {
        if (reused) this.dataSessions.reused++;
        else this.dataSessions.fresh++;
      },
      pasv_url: this.host,
      pasv_min: 30000,
      pasv_max: 60000,
      log: silentBunyan,
      greeting: '220 (vsFTPd 3.0.3)',
    };
    this.#ftp = new FtpSrv(ftpOptions);
    this.#ftp.on('login', ({ connection, username, password }: any, resolve: any, reject: any) => {
      if (username !== 'bblp' || password !== this.accessCode) return reject(new Error('530 Login incorrect'));
      if (this.#o.fatStorage) this.#refuseFatNames(connection);
      connection.on('STOR', (err: unknown, fileName: string) => {
        if (err) return;
        const rel = path.relative(this.#ftpRoot, fileName);
        this.uploads.set(`/${rel}`, fs.readFileSync(fileName));
      });
      resolve({ root: this.#ftpRoot });
    });
    await this.#ftp.listen();
    this.ports.ftps = (this.#ftp.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#ftp?.close().catch(() => {});
    await new Promise<void>((r) => (this.#broker ? this.#broker.close(() => r()) : r()));
    await new Promise<void>((r) => (this.#mqttServer ? this.#mqttServer.close(() => r()) : r()));
    fs.rmSync(this.#ftpRoot, { recursive: true, force: true });
  }

  /** Publishes one message verbatim on the report topic. */
  publish(message: Json): void {
    this.publishRaw(Buffer.from(JSON.stringify(message)));
  }

  /** Publishes raw bytes (non-UTF-8 payloads, raw newlines inside strings, …). */
  publishRaw(payload: Buffer): void {
    if (this.silent) return;
    this.#broker.publish({ cmd: 'publish', topic: this.reportTopic, payload, qos: 0, retain: false, dup: false }, () => {});
  }

  /** A status delta (msg 1) with the printer's own next sequence id; also kept in the base document. */
  delta(fields: Json): void {
    this.#base = { ...this.#base, ...fields };
    const print = { ...fields, command: 'push_status', msg: 1, sequence_id: String(++this.#seq) };
    this.publish({ print: this.#o.mapPrint ? this.#o.mapPrint(print) : print });
  }

  /** The whole current document as a full report (msg 0). */
  pushFull(): void {
    const print = { ...this.#base, command: 'push_status', msg: 0, sequence_id: String(++this.#seq) };
    const mapped: Json = this.#o.mapPrint ? this.#o.mapPrint(print) : print;
    if (!this.#o.splitFullReport) {
      this.publish({ print: mapped });
      return;
    }
    // Variation: the full report arrives as two messages (msg 0 first half, msg 1 the rest).
    // gcode_state goes last, so the msg-0 half alone holds temperatures but no job state.
    const keys = Object.keys(mapped).filter((k) => !['command', 'msg', 'sequence_id', 'gcode_state'].includes(k));
    keys.push('gcode_state');
    const half = Math.ceil(keys.length / 2);
    const pick = (ks: string[]) => Object.fromEntries(ks.map((k) => [k, mapped[k]]));
    this.publish({ print: { ...pick(keys.slice(0, half)), command: 'push_status', msg: 0, sequence_id: mapped.sequence_id } });
    this.publish({ print: { ...pick(keys.slice(half)), command: 'push_status', msg: 1, sequence_id: String(++this.#seq) } });
  }

  /** Drops every MQTT client connection (a printer rebooting its broker / Wi-Fi drop). */
  dropClients(): void {
    for (const s of this.#sockets) s.destroy();
  }

  releaseFullReport(): void {
    this.#o.holdFullReport = false;
    if (this.#pendingPushall > 0) this.pushFull();
    this.#pendingPushall = 0;
  }

  /** vsFTPd on a FAT card: `553 Could not create file.` for a name FAT cannot hold. */
  #refuseFatNames(connection: any): void {
    const commands = connection.commands;
    const original = commands.handle.bind(commands);
    commands.handle = async (raw: any) => {
      const cmd = typeof raw === 'string' ? commands.parse(raw) : raw;
      const name = String(cmd.arg ?? '').split('/').pop() ?? '';
      if ((cmd.directive === 'STOR' || cmd.directive === 'APPE') && /[\\:*?"<>|\u0000-\u001f]/.test(name)) {
        this.refusedNames.push(name);
        connection.connector?.end?.();
        return connection.reply(553, 'Could not create file.');
      }
      return original(cmd);
    };
  }

  finishPrint(): void {
    this.#finishJob?.();
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #onRequest(body: Json): void {
    if (body.pushing?.command === 'pushall') {
      if (this.#o.holdFullReport) this.#pendingPushall++;
      else this.pushFull();
    } else if (body.info?.command === 'get_version') {
      const answer = structuredClone(this.#o.version ?? a1Fixture().version);
      answer.info.sequence_id = String(body.info.sequence_id ?? '0');
      this.publish(answer);
    } else if (body.print?.command === 'project_file') {
      const answer = this.#o.projectFileAnswer?.(body.print) ?? null;
      if (answer) this.publish(answer);
      else this.#startJob(body.print);
    } else if (body.print?.command) {
      const p = body.print;
      this.publish({ print: { command: p.command, sequence_id: String(p.sequence_id), param: p.param ?? '', result: 'success', reason: '' } });
      this.#control(String(p.command));
    }
  }

  /** pause/resume/stop as the firmware reports them (§1.5: cancel = FAILED + 0300_400C, cleared later). */
  #control(command: string): void {
    const step = this.#o.stepMs ?? 120;
    if (command === 'pause') this.#later(step, () => this.delta({ gcode_state: 'PAUSE', mc_print_stage: '3', stg_cur: 16 }));
    if (command === 'resume') this.#later(step, () => this.delta({ gcode_state: 'RUNNING', mc_print_stage: '2', stg_cur: 0 }));
    if (command === 'stop') {
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      this.#finishJob = null;
      this.#later(step, () =>
        this.delta({ gcode_state: 'FAILED', print_error: 50348044, mc_percent: 0, layer_num: 0, mc_print_stage: '1', stg_cur: 255 }),
      );
      this.#later(3 * step, () => this.delta({ print_error: 0 }));
    }
  }

  /** project_file → ack, then PREPARE → RUNNING (progress) → FINISH as deltas, echoing the ids. */
  #startJob(p: Json): void {
    const step = this.#o.stepMs ?? 120;
    // Ack shape per §1.9: echoes command, param, subtask_name, gcode_state PREPARE, result SUCCESS.
    this.publish({
      print: {
        command: 'project_file',
        sequence_id: String(p.sequence_id),
        param: p.param,
        subtask_name: p.subtask_name,
        gcode_state: 'PREPARE',
        result: 'SUCCESS',
        reason: '',
      },
    });
    const ids = { task_id: String(p.task_id), subtask_id: String(p.subtask_id), project_id: String(p.project_id ?? '0'), profile_id: String(p.profile_id ?? '0') };
    this.#later(step, () =>
      this.delta({
        ...ids,
        gcode_state: 'PREPARE',
        subtask_name: p.subtask_name,
        gcode_file: String(p.url ?? '').replace(/^(ftp|file):\/+(sdcard\/)?/, ''),
        gcode_file_prepare_percent: '0',
        print_type: 'local',
        mc_print_stage: '1',
        stg: [2, 13, 1],
        stg_cur: 2,
        nozzle_target_temper: 220,
        bed_target_temper: 65,
        mc_percent: 0,
        mc_remaining_time: 0,
      }),
    );
    this.#later(2 * step, () => this.delta({ gcode_file_prepare_percent: '100', stg_cur: 13, bed_temper: 64.5, nozzle_temper: 219.5 }));
    const progress = [
      { mc_percent: 12, mc_remaining_time: 21, layer_num: 3, total_layer_num: 25 },
      { mc_percent: 47, mc_remaining_time: 12, layer_num: 12 },
      { mc_percent: 88, mc_remaining_time: 3, layer_num: 22 },
    ];
    progress.forEach((fields, i) => {
      const first = { gcode_state: 'RUNNING', mc_print_stage: '2', stg_cur: 0, nozzle_temper: 220, bed_temper: 65 };
      this.#later((3 + i) * step, () => this.delta(i === 0 ? { ...fields, ...first } : fields));
    });
    const finish = () =>
      this.delta({
        gcode_state: 'FINISH',
        mc_percent: 100,
        mc_remaining_time: 0,
        layer_num: 25,
        mc_print_stage: '1',
        stg: [],
        stg_cur: 255,
        nozzle_target_temper: 0,
        bed_target_temper: 0,
      });
    if (this.#o.holdRunning) this.#finishJob = finish;
    else this.#later((3 + progress.length) * step, finish);
  }
}

export function md5Upper(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex').toUpperCase();
}
