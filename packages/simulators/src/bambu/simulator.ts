/**
 * One simulated Bambu Lab printer: TLS MQTT broker + implicit FTPS storage + TLS camera, all
 * driven by the pure PrintLifecycle. Time is simulated: each real tick advances the lifecycle by
 * `realElapsed × timeScale`.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, systemClock, type TimerHandle } from '@rwc/server/util/clock.ts';
import { PrinterCamera } from './camera-server.ts';
import { printerCertificate } from './certs.ts';
import { type CommandContext, handleCommand } from './commands.ts';
import { type FtpsMode, PrinterFtps } from './ftps-server.ts';
import { type BambuModel, MODELS, randomAccessCode, randomSerial } from './identity.ts';
import { SceneCamera, type SceneState, SpaghettiFault, seedOf } from '../camera/print-scene.ts';
import { printerSnapshotJpeg } from './jpeg.ts';
import { inspectStorageFile } from './job-file.ts';
import { PrintLifecycle } from './lifecycle.ts';
import { type SimAmsConfig, amsReportFields } from './ams.ts';
import { PrinterBroker } from './mqtt-broker.ts';
import { ReportPublisher } from './report-publisher.ts';
import type { GcodeState, HmsEntry, PrintStatus } from './status.ts';

export interface BambuSimOptions {
  serial?: string;
  accessCode?: string;
  model?: BambuModel;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) = OS-picked. */
  mqttPort?: number;
  ftpsPort?: number;
  cameraPort?: number;
  /** Simulated seconds per real second; default 1. */
  timeScale?: number;
  /** Simulated print duration when the plate has no estimate; default 1800. */
  printSeconds?: number;
  /** Real ms between reports while a job is active; default 1000. */
  reportIntervalMs?: number;
  // ---- extras beyond the agreed API ----
  /** Real ms between idle reports; default 5 × reportIntervalMs. */
  idleReportIntervalMs?: number;
  /** Simulated seconds of PREPARE with every calibration on (stages scale down when some are off). */
  prepareSeconds?: number;
  /** Simulated seconds of end G-code (RUNNING at 100 %) before FINISH; default 15. */
  endGcodeSeconds?: number;
  /** Real ms between camera frames; default 1000. */
  cameraFrameIntervalMs?: number;
  /** Throughput of FTPS uploads in `slow` mode (bytes per real second); default 64 KiB. */
  slowFtpsBytesPerSecond?: number;
  /** A project_file while busy also cancels the running job (A1 mini firmware, §0); default only for 'A1 mini'. */
  busyStartCancels?: boolean;
  clock?: Clock;
  /**
   * Send the CA after the leaf in the TLS handshake, as real printers send their "BBL Device CA".
   * A client that does not know this CA can then pin it on first use.
   */
  presentCaChain?: boolean;
  /** Nozzle diameter the printer reports (`nozzle_diameter` in the full report), mm; default 0.4. */
  nozzleDiameter?: number;
  /**
   * get_version `product_name` (default the model's, e.g. "Bambu Lab A1 mini"); null = the printer
   * does not say what it is (no product or project name in the answer).
   */
  productName?: string | null;
  /** false: the printer never answers get_version. Default true. */
  answerGetVersion?: boolean;
  /** AMS trays and external spool to report (ams.ts); default the A1 capture's one PLA tray. */
  ams?: SimAmsConfig;
}

/** A scripted numeric refusal: which commands (`print.project_file`, … or '*' for every control command), which code, how often. */
export interface RefusalRule {
  command: string;
  errCode: number;
  /** How many commands to refuse; default: every one until cleared. */
  times?: number;
}

export class BambuSimulator extends EventEmitter {
  readonly serial: string;
  readonly accessCode: string;
  readonly host: string;
  readonly model: BambuModel;
  readonly ports = { mqtt: 0, ftps: 0, camera: 0 };
  caCertPem = '';
  readonly receivedCommands: any[] = [];
  /** Requests swallowed while `setDropCommands(true)` (the printer never saw them). */
  readonly droppedCommands: any[] = [];
  readonly #opts: BambuSimOptions;
  readonly #clock: Clock;
  readonly #lifecycle: PrintLifecycle;
  #broker: PrinterBroker | null = null;
  #ftps: PrinterFtps | null = null;
  #camera: PrinterCamera | null = null;
  #storageDir = '';
  #timer: TimerHandle | null = null;
  #lastTickAt = 0;
  readonly #reports: ReportPublisher;
  readonly #scene = new SceneCamera(() => printerSnapshotJpeg(this.gcodeState, this.#lifecycle.status.mc_percent));
  readonly #spaghetti = new SpaghettiFault();
  /** Simulated seconds since start (the fault's clock). */
  #simSeconds = 0;
  #verifyFailed = false;
  #ftpsMode: FtpsMode = 'normal';
  #refuseAuth = false;
  #dropCommands = false;
  #killOnRequestSubscribe = false;
  #refusal: RefusalRule | null = null;
  #lastState: GcodeState;
  #started = false;

  constructor(opts: BambuSimOptions = {}) {
    super();
    this.#opts = opts;
    this.model = opts.model ?? 'A1';
    this.serial = opts.serial ?? randomSerial(this.model);
    this.accessCode = opts.accessCode ?? randomAccessCode();
    this.host = opts.host ?? '127.0.0.1';
    this.#clock = opts.clock ?? systemClock;
    this.#lifecycle = new PrintLifecycle({
      model: MODELS[this.model],
      busyStartCancels: opts.busyStartCancels ?? this.model === 'A1 mini',
      nozzleDiameter: opts.nozzleDiameter,
      prepareSeconds: opts.prepareSeconds,
      endGcodeSeconds: opts.endGcodeSeconds,
    });
    if (opts.ams) this.#lifecycle.setState(amsReportFields(opts.ams));
    this.#lastState = this.#lifecycle.status.gcode_state;
    this.#reports = new ReportPublisher(this.#lifecycle.status, (m) => {
      if (!this.#broker) return false;
      this.#broker.publish(m);
      return true;
    });
  }

  get gcodeState(): GcodeState {
    return this.#lifecycle.status.gcode_state;
  }

  /** The live simulated `print` fields (read-only view for tests). */
  get status(): Readonly<PrintStatus> {
    return this.#lifecycle.status;
  }

  /** The simulated SD card root (FTPS root). */
  get storageDir(): string {
    return this.#storageDir;
  }

  get timeScale(): number {
    return this.#opts.timeScale ?? 1;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      const pki = await printerCertificate(this.serial);
      this.caCertPem = pki.caPem;
      this.#storageDir = mkdtempSync(join(tmpdir(), `rwc-bambu-${this.serial}-`));
      for (const d of ['cache', 'timelapse']) mkdirSync(join(this.#storageDir, d));
      const tlsMaterial = { key: pki.keyPem, cert: this.#opts.presentCaChain ? `${pki.certPem.trim()}\n${pki.caPem}` : pki.certPem };

      const broker = new PrinterBroker({
        serial: this.serial,
        accessCode: this.accessCode,
        host: this.host,
        port: this.#opts.mqttPort ?? 0,
        ...tlsMaterial,
      });
      broker.refuseAuth = this.#refuseAuth;
      broker.killOnRequestSubscribe = this.#killOnRequestSubscribe;
      broker.onRequest = (payload) => this.#onRequest(payload);
      this.#broker = broker;
      this.ports.mqtt = await broker.start();

      const ftps = new PrinterFtps({
        host: this.host,
        port: this.#opts.ftpsPort ?? 0,
        accessCode: this.accessCode,
        root: this.#storageDir,
        slowBytesPerSecond: this.#opts.slowFtpsBytesPerSecond,
        ...tlsMaterial,
      });
      ftps.mode = this.#ftpsMode;
      this.#ftps = ftps;
      this.ports.ftps = await ftps.start();

      const camera = new PrinterCamera({
        host: this.host,
        port: this.#opts.cameraPort ?? 0,
        accessCode: this.accessCode,
        frameIntervalMs: this.#opts.cameraFrameIntervalMs,
        frame: () => this.#cameraFrame(),
        ...tlsMaterial,
      });
      this.#camera = camera;
      this.ports.camera = await camera.start();

      this.#lastTickAt = this.#clock.now();
      this.#timer = this.#clock.setInterval(() => this.#tick(), this.#reportIntervalMs);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    this.#clock.clearInterval(this.#timer);
    this.#timer = null;
    const parts = [this.#broker, this.#ftps, this.#camera];
    this.#broker = null;
    this.#ftps = null;
    this.#camera = null;
    await Promise.all(parts.map((p) => p?.stop()));
    if (this.#storageDir) rmSync(this.#storageDir, { recursive: true, force: true });
    this.#storageDir = '';
    this.#started = false;
  }

  /**
   * How a client reaches this printer: the `connection` of a `bambu` printer in the server's API
   * (docs/api.md), plus this simulator's CA so the certificate check passes. Valid after start().
   */
  connectionInfo(): {
    host: string;
    serial: string;
    accessCode: string;
    mqttPort: number;
    ftpsPort: number;
    cameraPort: number;
    caCertPem: string;
  } {
    return {
      host: this.host,
      serial: this.serial,
      accessCode: this.accessCode,
      mqttPort: this.ports.mqtt,
      ftpsPort: this.ports.ftps,
      cameraPort: this.ports.camera,
      caCertPem: this.caCertPem,
    };
  }

  files(): { name: string; size: number }[] {
    const out: { name: string; size: number }[] = [];
    const walk = (dir: string, prefix: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const rel = prefix ? `${prefix}/${e.name}` : e.name;
        if (e.isDirectory()) walk(join(dir, e.name), rel);
        else if (e.isFile()) out.push({ name: rel, size: statSync(join(dir, e.name)).size });
      }
    };
    if (this.#storageDir) walk(this.#storageDir, '');
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  // ---- fault injection / control ----

  injectError(e: { printError?: number; hms?: HmsEntry[] }): void {
    this.#lifecycle.injectError(e);
    this.#afterChange();
  }

  clearError(): void {
    this.#lifecycle.clearError();
    this.#afterChange();
  }

  dropConnections(): void {
    this.#broker?.dropConnections();
  }

  setSilent(v: boolean): void {
    this.#reports.silent = v;
  }

  setRefuseAuth(v: boolean): void {
    this.#refuseAuth = v;
    if (this.#broker) this.#broker.refuseAuth = v;
  }

  /**
   * Half-broken session (pitfall 9): telemetry keeps flowing but published commands are silently
   * lost — no ack, no effect. They are kept in `droppedCommands`.
   */
  setDropCommands(v: boolean): void {
    this.#dropCommands = v;
  }

  /** Some P1S/A1 brokers kill the connection of a client subscribing to the request topic (pitfall 12). */
  setKillOnRequestSubscribe(v: boolean): void {
    this.#killOnRequestSubscribe = v;
    if (this.#broker) this.#broker.killOnRequestSubscribe = v;
  }

  setFtpsMode(m: FtpsMode): void {
    this.#ftpsMode = m;
    if (this.#ftps) this.#ftps.mode = m;
  }

  setVerifyFailedMode(v: boolean): void {
    this.#verifyFailed = v;
  }

  /**
   * Scripted numeric refusals (case bambu-err-code-refusal): matching control commands are echoed
   * with `err_code` and no `result`, and have no effect. `command` is `print.project_file`,
   * `print.pause`, `print.resume`, `print.stop`, `print.gcode_line`, … or '*'. null clears it.
   */
  refuseCommands(rule: RefusalRule | null): void {
    this.#refusal = rule ? { ...rule } : null;
  }

  /** Sets the HMS list and leaves the job alone (notices a printing printer keeps reporting). */
  setHms(hms: HmsEntry[]): void {
    this.#lifecycle.setHms(hms);
    this.#afterChange();
  }

  finishNow(): void {
    this.#lifecycle.finishNow();
    this.#afterChange();
  }

  /** Test helper: force report fields (e.g. `{gcode_state: 'IDLE'}` after a FINISH). */
  setState(patch: Partial<PrintStatus>): void {
    this.#lifecycle.setState(patch);
    this.#afterChange();
  }

  /**
   * Fault: the running print turns into spaghetti on the camera (loose strands that pile up over
   * ten simulated minutes). The firmware notices nothing, as a real printer would not; it is for
   * AI failure detection to see. Cleared when the next print starts.
   */
  startSpaghetti(): void {
    this.#spaghetti.start(this.#simSeconds);
  }

  stopSpaghetti(): void {
    this.#spaghetti.clear();
  }

  /** Loads spools: the AMS units' trays and the external spool reported from now on. */
  setAms(cfg: SimAmsConfig): void {
    this.#lifecycle.setState(amsReportFields(cfg));
    this.#afterChange();
  }

  /** The `project_file` commands received (as sent: `use_ams`, `ams_mapping`, ...), oldest first. */
  projectFiles(): Record<string, any>[] {
    return this.receivedCommands.filter((c) => c?.print?.command === 'project_file').map((c) => c.print);
  }

  /** Publishes a full report now, as the answer to `pushall` would. */
  pushFullReport(): void {
    this.#reports.full(this.#lifecycle.status);
  }

  // ---- internals ----

  get #reportIntervalMs(): number {
    return Math.max(10, this.#opts.reportIntervalMs ?? 1000);
  }

  #tick(): void {
    const now = this.#clock.now();
    const dtSim = ((now - this.#lastTickAt) / 1000) * this.timeScale;
    this.#lastTickAt = now;
    this.#simSeconds += dtSim;
    // Sub-steps so that every gcode_state change is pushed the moment it happens, as firmware
    // does, even when one tick spans several phases at a high time scale.
    const step = Math.max(1, dtSim / 200);
    for (let left = dtSim; left > 0; left -= step) {
      const before = this.gcodeState;
      this.#lifecycle.advance(Math.min(step, left));
      if (this.gcodeState !== before) this.#afterChange();
    }
    this.#reports.sinceLastPush += this.#reportIntervalMs;
    const idleEvery = this.#opts.idleReportIntervalMs ?? this.#reportIntervalMs * 5;
    if (this.#lifecycle.isActive || this.#reports.sinceLastPush >= idleEvery) {
      this.#reports.delta(this.#lifecycle.status);
    }
  }

  #onRequest(payload: Record<string, any>): void {
    if (this.#dropCommands) {
      this.droppedCommands.push(payload);
      return;
    }
    this.receivedCommands.push(payload);
    this.emit('command', payload);
    const ctx: CommandContext = {
      lifecycle: this.#lifecycle,
      model: MODELS[this.model],
      serial: this.serial,
      verifyFailedMode: this.#verifyFailed,
      defaultPrintSeconds: this.#opts.printSeconds ?? 1800,
      inspectFile: (name, plate) => inspectStorageFile(this.#storageDir, name, plate),
      refusal: (name) => this.#takeRefusal(name),
      productName: this.#opts.productName,
      answerGetVersion: this.#opts.answerGetVersion,
    };
    let outcome: ReturnType<typeof handleCommand>;
    try {
      outcome = handleCommand(ctx, payload);
    } catch {
      return; // a malformed command must never take the printer down
    }
    for (const m of outcome.publish) this.#reports.publish(m);
    if (outcome.fullReport) this.#reports.full(this.#lifecycle.status);
    else this.#afterChange();
  }

  #takeRefusal(name: string): number | null {
    const rule = this.#refusal;
    if (!rule || (rule.command !== '*' && rule.command !== name)) return null;
    if (rule.times !== undefined) {
      if (rule.times <= 0) return null;
      rule.times--;
    }
    return rule.errCode;
  }

  /** The camera picture: the print scene for the current state, progress and fault (drawn on change). */
  async #cameraFrame(): Promise<Buffer> {
    const states: Record<string, SceneState> = { IDLE: 'idle', PREPARE: 'preparing', RUNNING: 'printing', PAUSE: 'paused', FINISH: 'finished', FAILED: 'failed' };
    const input = {
      state: states[this.gcodeState] ?? 'idle',
      progress: this.#lifecycle.status.mc_percent,
      spaghetti: this.#spaghetti.amount(this.#simSeconds),
      filament: '#00ae42',
      seed: seedOf(this.serial),
    };
    await this.#scene.update(input);
    return this.#scene.frame(input);
  }

  #afterChange(): void {
    this.#emitStateChange();
    this.#reports.delta(this.#lifecycle.status);
  }

  #emitStateChange(): void {
    const state = this.gcodeState;
    if (state === this.#lastState) return;
    const previous = this.#lastState;
    this.#lastState = state;
    if (state === 'PREPARE') this.#spaghetti.clear();
    this.emit('state', { state, previous, status: { ...this.#lifecycle.status } });
  }
}
