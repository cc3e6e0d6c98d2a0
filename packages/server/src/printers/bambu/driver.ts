/**
 * The Bambu Lab LAN driver: MQTT telemetry/commands, FTPS upload, A1/P1 camera.
 * Pure decisions live in report.ts / state-map.ts / errors.ts / commands.ts; this file wires them
 * to the sockets and the injected clock.
 */
import {
  DriverError,
  type DriverContext,
  type PrinterDriver,
  type StartJobRequest,
  StartNotConfirmedError,
  StartRefusedError,
} from '../driver.ts';
import { canonicalPrinterModel } from '../../library/printer-models.ts';
import type { PrinterError, PrinterState } from '../model.ts';
import { grabCameraFrame } from './camera.ts';
import {
  cleanPrintError,
  gcodeLine,
  ledCtrl,
  isValidJobId,
  pausePrint,
  projectFile,
  pushAll,
  resumePrint,
  SequenceIds,
  stopPrint,
  type BambuCommand,
} from './commands.ts';
import { type BambuConnection, parseBambuConnection } from './connection.ts';
import {
  BUSY_PRINT_ERROR,
  formatPrintError,
  isVerifyFailedReason,
  VERIFY_FAILED_ERR_CODE,
  verifyFailedError,
} from './errors.ts';
import { FileUploader } from './file-uploader.ts';
import { defaultLinkTiming, type LinkTiming, MqttConnection } from './mqtt-connection.ts';
import { PendingCommands, type PendingSpec } from './pending-commands.ts';
import {
  type BambuReport,
  classifyMessage,
  type JsonObject,
  identityFromVersion,
  mergeReport,
  parsePayload,
  readReport,
} from './report.ts';
import { buildState, isActiveGcodeState, jobIdOf, type LinkStatus, nextLastJob } from './state-map.ts';
import { storageFileName } from './storage-name.ts';
import {
  dropCandidate,
  hasConnectedBefore,
  isUntrustedChainError,
  loadCandidate,
  loadPin,
  markConnected,
  probeCertificate,
  saveCandidate,
  savePin,
} from './tls-pin.ts';
import { CertificateMismatchError, bambuTlsOptions, isCertificateError, trustedCas } from './tls.ts';
import { JsonFileUploadStore, type UploadRecordStore } from './upload-records.ts';
import { raiseAlert } from '../../alerts/raise.ts';
import { type ConnectionIssue, classifyConnectError, issue } from '../connection-issue.ts';

export interface BambuDriverOptions {
  timing?: Partial<LinkTiming>;
  /** How long a start may take to show up in the reports (default 90 s). */
  startConfirmTimeoutMs?: number;
  /** pause/resume/stop/gcode/clear confirmation timeout (default 20 s). */
  commandTimeoutMs?: number;
  /** Upload deadline = floor + size / minBytesPerSecond (defaults 60 s, 32 KiB/s). */
  uploadFloorMs?: number;
  uploadMinBytesPerSecond?: number;
  cameraTimeoutMs?: number;
  uploadStore?: UploadRecordStore;
  random?: () => number;
}

export const NOTE_NO_REPORTS = 'connected but no reports: check the serial number';
export const NOTE_WRONG_ACCESS_CODE =
  'wrong access code: re-read it from the printer screen (it changes when LAN Only / Developer Mode is toggled)';

const READY_STATES = new Set(['IDLE', 'FINISH', 'FAILED']);

export class BambuDriver implements PrinterDriver {
  readonly announcesStartCommand = true;
  readonly #ctx: DriverContext;
  readonly #conn: BambuConnection;
  readonly #o: Required<Omit<BambuDriverOptions, 'timing' | 'uploadStore' | 'random'>>;
  readonly #seq = new SequenceIds();
  readonly #mqtt: MqttConnection;
  readonly #pending: PendingCommands;
  readonly #uploader: FileUploader;
  #link: LinkStatus = 'offline';
  #base: JsonObject | null = null;
  #report: BambuReport | null = null;
  #fullStatus = false;
  #stale = false;
  #lastJob: PrinterState['lastJob'] = null;
  #note: string | null = null;
  /** Why the link is down (code + params), cleared when it comes up. */
  #issue: ConnectionIssue | null = null;
  #linkError: PrinterError | null = null;
  /** Trusted CAs for every TLS link of this printer; a first-use pin is added to this very list. */
  readonly #ca: string[];
  #pinning = false;
  #verifyFailed = false;
  #updatedAt: number | null = null;
  /** The model the user typed, canonical ("X1 Carbon" → "X1C"); only a fallback for what the printer says. */
  readonly #typedModel: string | null;
  /** What get_version said (canonical model, firmware). */
  #versionModel: string | null = null;
  #firmware: string | null = null;
  readonly #plates = new Map<string, number>();
  /** Job for which a one-shot pushall was sent because total_layer_num was missing (pitfall 2). */
  #layerResyncFor: string | null = null;
  #state: PrinterState;
  #stateKey = '';

  constructor(ctx: DriverContext, options: BambuDriverOptions = {}) {
    this.#ctx = ctx;
    this.#conn = parseBambuConnection(ctx.connection);
    this.#typedModel = canonicalPrinterModel(ctx.model);
    this.#o = {
      startConfirmTimeoutMs: options.startConfirmTimeoutMs ?? 90_000,
      commandTimeoutMs: options.commandTimeoutMs ?? 20_000,
      uploadFloorMs: options.uploadFloorMs ?? 60_000,
      uploadMinBytesPerSecond: options.uploadMinBytesPerSecond ?? 32 * 1024,
      cameraTimeoutMs: options.cameraTimeoutMs ?? 10_000,
    };
    this.#ca = trustedCas(this.#conn);
    const pin = loadPin(ctx.dataDir, this.#conn.serial, this.#conn.host);
    if (pin) this.#ca.push(pin.pem);
    const tls = bambuTlsOptions(this.#conn, this.#ca);
    this.#pending = new PendingCommands(ctx.clock);
    this.#uploader = new FileUploader({
      target: { host: this.#conn.host, port: this.#conn.ftpsPort, accessCode: this.#conn.accessCode, tls },
      store: options.uploadStore ?? new JsonFileUploadStore(ctx.dataDir),
      clock: ctx.clock,
      floorMs: this.#o.uploadFloorMs,
      minBytesPerSecond: this.#o.uploadMinBytesPerSecond,
      log: (kind, message, detail) => this.#log(kind, message, detail),
    });
    this.#mqtt = new MqttConnection({
      host: this.#conn.host,
      port: this.#conn.mqttPort,
      serial: this.#conn.serial,
      accessCode: this.#conn.accessCode,
      tls,
      clock: ctx.clock,
      logger: ctx.logger,
      timing: {
        ...defaultLinkTiming,
        ...(ctx.staleAfterSeconds ? { staleAfterMs: ctx.staleAfterSeconds * 1000 } : {}),
        ...options.timing,
      },
      sequence: this.#seq,
      random: options.random,
      events: {
        onLinkChange: (link) => this.#onLinkChange(link),
        onMessage: (payload) => this.#onMessage(payload),
        onStale: () => {
          this.#stale = true;
          this.#emit();
        },
        onNoReports: () => {
          this.#note = NOTE_NO_REPORTS;
          this.#issue = issue('no_reports', { serial: this.#conn.serial });
          this.#log('mqtt.no_reports', NOTE_NO_REPORTS);
          this.#emit();
        },
        onAuthRejected: (code) => {
          this.#note = NOTE_WRONG_ACCESS_CODE;
          this.#linkError = { code: 'wrong_access_code', message: NOTE_WRONG_ACCESS_CODE };
          this.#issue = issue('wrong_access_code', { connack: code, host: this.#conn.host, port: this.#conn.mqttPort });
          this.#log('mqtt.auth_rejected', `the printer refused the access code (CONNACK ${code}); not retrying`);
          this.#emit();
        },
        onConnectError: (err) => {
          if (!this.#conn.insecureTls && isUntrustedChainError(err)) void this.#trustOnFirstUse();
          else if (isCertificateError(err)) {
            const message = `TLS certificate refused: ${err.message}`;
            this.#note = message;
            this.#linkError = { code: 'tls_certificate', message };
            this.#issue =
              err instanceof CertificateMismatchError
                ? issue('certificate_mismatch', { presentedName: err.actual ?? '(none)', expectedSerial: this.#conn.serial })
                : classifyConnectError(err, { host: this.#conn.host, port: this.#conn.mqttPort });
            if (this.#issue.code === 'other' || this.#issue.code === 'protocol_error') this.#issue = issue('tls_error', { detail: err.message });
          } else {
            this.#issue = classifyConnectError(err, { host: this.#conn.host, port: this.#conn.mqttPort });
          }
          this.#ctx.logger.warn({ err: err.message, printerId: ctx.printerId }, 'bambu connection error');
          this.#emit();
        },
        log: (kind, message, detail) => this.#log(kind, message, detail),
      },
    });
    this.#pending.onVerifyFailed = () => this.#setVerifyFailed();
    this.#state = this.#build();
  }

  /** See tls-pin.ts: pin a non-Bambu certificate the first time, refuse it if it changes later. */
  async #trustOnFirstUse(): Promise<void> {
    if (this.#pinning) return;
    const refuse = (why: string, found: ConnectionIssue) => {
      const message = `TLS certificate refused: ${why}`;
      this.#note = message;
      this.#issue = found;
      this.#linkError = { code: 'tls_certificate', message };
      this.#log('tls.refused', message);
      this.#emit();
    };
    const { serial, host, mqttPort } = this.#conn;
    const pinned = loadPin(this.#ctx.dataDir, serial, host);
    // Only a printer's very first connection may pin on its own; later, an admin confirms.
    const needsAdmin = !!pinned || hasConnectedBefore(this.#ctx.dataDir);
    this.#pinning = true;
    try {
      const probe = await probeCertificate({ host, port: mqttPort, serial, timeoutMs: 10_000 });
      if (probe.commonName !== serial) {
        return refuse(
          `printer certificate CN "${probe.commonName ?? '(none)'}" does not match the configured serial "${serial}"`,
          issue('certificate_mismatch', { presentedName: probe.commonName ?? '(none)', expectedSerial: serial }),
        );
      }
      if (!probe.anchorPem || !probe.fingerprint256) {
        return refuse(
          "it is not issued by Bambu Lab's CA and has no self-signed root to trust; give its CA in connection.caCertPem or turn on insecureTls",
          issue('certificate_untrusted', {}),
        );
      }
      if (needsAdmin) {
        const seenAt = new Date(this.#ctx.clock.now()).toISOString();
        saveCandidate(this.#ctx.dataDir, { serial, host, pem: probe.anchorPem, fingerprint256: probe.fingerprint256, pinnedAt: seenAt });
        const what = pinned ? `the printer's certificate changed since it was first trusted (${pinned.pinnedAt})` : 'the printer presents a certificate it did not have before';
        return refuse(
          `${what}; an admin must confirm the new one (SHA-256 ${probe.fingerprint256}) with POST /api/v1/printers/{id}/certificate, or remove and add the printer if it was replaced`,
          issue('certificate_changed', { fingerprint256: probe.fingerprint256 }),
        );
      }
      const at = new Date(this.#ctx.clock.now()).toISOString();
      savePin(this.#ctx.dataDir, { serial, host, pem: probe.anchorPem, fingerprint256: probe.fingerprint256, pinnedAt: at });
      this.#ca.push(probe.anchorPem);
      this.#note = `certificate not issued by Bambu Lab's CA: trusted on first use (SHA-256 ${probe.fingerprint256.slice(0, 16)}…)`;
      this.#log('tls.pinned', this.#note, { fingerprint256: probe.fingerprint256 });
      this.#emit();
    } catch (err) {
      this.#ctx.logger.warn({ err: (err as Error).message }, 'bambu certificate probe failed');
    } finally {
      this.#pinning = false;
    }
  }

  /**
   * An admin confirms the certificate the printer presented (by its SHA-256 fingerprint, as shown in
   * the refusal): it becomes the pin and the next connection attempt uses it.
   */
  async trustCertificate(fingerprint256: string): Promise<void> {
    const candidate = loadCandidate(this.#ctx.dataDir);
    const want = fingerprint256.toLowerCase().replace(/[^0-9a-f]/g, '');
    if (!candidate || candidate.fingerprint256 !== want) {
      throw new DriverError('certificate_not_presented', 'the printer has not presented a certificate with that fingerprint; check the printer state for the current one');
    }
    savePin(this.#ctx.dataDir, { ...candidate, pinnedAt: new Date(this.#ctx.clock.now()).toISOString() });
    dropCandidate(this.#ctx.dataDir);
    this.#ca.push(candidate.pem);
    this.#note = `certificate confirmed by an admin (SHA-256 ${want.slice(0, 16)}…)`;
    this.#linkError = null;
    this.#issue = null;
    this.#log('tls.confirmed', this.#note, { fingerprint256: want });
    this.#emit();
  }

  async start(): Promise<void> {
    this.#mqtt.start();
  }

  async stop(): Promise<void> {
    this.#pending.abandonAll();
    await this.#mqtt.stop();
    this.#link = 'offline';
    this.#fullStatus = false;
    this.#emit();
  }

  getState(): PrinterState {
    return this.#state;
  }

  // ---- telemetry ---------------------------------------------------------------------------

  #onLinkChange(link: LinkStatus): void {
    this.#link = link;
    if (link === 'connected') {
      markConnected(this.#ctx.dataDir, this.#conn.serial, this.#conn.host, new Date(this.#ctx.clock.now()).toISOString());
      this.#linkError = null;
      if (this.#issue?.code !== 'no_reports') this.#issue = null;
      if (this.#note === NOTE_WRONG_ACCESS_CODE || this.#note?.startsWith('TLS certificate')) this.#note = null;
    }
    if (link !== 'connected') {
      // A new session must earn trust again with a full report.
      this.#fullStatus = false;
    }
    this.#emit();
  }

  #onMessage(payload: Buffer): void {
    const parsed = parsePayload(payload);
    if (!parsed) {
      this.#ctx.logger.debug({ printerId: this.#ctx.printerId }, 'bambu: ignored a message that is not JSON');
      return;
    }
    const now = this.#ctx.clock.now();
    this.#updatedAt = now;
    this.#stale = false;
    if (this.#note === NOTE_NO_REPORTS) this.#note = null;
    if (this.#issue?.code === 'no_reports') this.#issue = null;
    const msg = classifyMessage(parsed);
    if (msg.kind === 'status') {
      if (msg.full) {
        // Without `msg` we cannot tell a whole document from a delta: merge, never drop known fields.
        this.#base = msg.print.msg === undefined ? mergeReport(this.#base ?? {}, msg.print) : msg.print;
        if (!this.#fullStatus) this.#log('mqtt.full_status', 'full status received');
        this.#fullStatus = true;
        this.#mqtt.resetBackoff();
      } else {
        this.#base = mergeReport(this.#base ?? {}, msg.print);
      }
      const report = readReport(this.#base);
      this.#report = report;
      if (this.#fullStatus) this.#lastJob = nextLastJob(this.#lastJob, report, now);
      this.#resyncMissingTotals(report);
      this.#emit();
      this.#pending.onReport(report);
    } else if (msg.kind === 'ack') {
      if (msg.result === 'failed' && isVerifyFailedReason(msg.reason)) this.#setVerifyFailed();
      if (msg.errCode === VERIFY_FAILED_ERR_CODE) this.#setVerifyFailed();
      if (msg.errCode) {
        this.#log('mqtt.refused', `the printer refused ${msg.command || 'a command'} (err_code ${msg.errCode})`, {
          command: msg.command,
          sequenceId: msg.sequenceId,
          errCode: msg.errCode,
        });
      }
      this.#pending.onAck(msg);
      this.#emit();
    } else if (msg.kind === 'info') {
      const identity = identityFromVersion(msg.info);
      if (identity.model) this.#versionModel = identity.model;
      if (identity.firmware) this.#firmware = identity.firmware;
      this.#emit();
    }
  }

  /**
   * A field missed in the frame that switched to RUNNING (typically total_layer_num) is never
   * re-sent until the next full push: ask once per job (pitfall 2; P1P lags if pushall is spammed).
   */
  #resyncMissingTotals(r: BambuReport): void {
    if (r.gcodeState !== 'RUNNING' || (r.layerNum ?? 0) <= 0 || (r.totalLayerNum ?? 0) > 0) return;
    const job = jobIdOf(r) ?? r.subtaskName ?? '';
    if (this.#layerResyncFor === job) return;
    this.#layerResyncFor = job;
    this.#mqtt.publish(pushAll(this.#seq.next()), 0).catch(() => {});
  }

  #setVerifyFailed(): void {
    if (this.#verifyFailed) return;
    this.#verifyFailed = true;
    this.#log('mqtt.verify_failed', verifyFailedError().message);
    raiseAlert(this.#ctx.bus, {
      level: 'error',
      printerId: this.#ctx.printerId,
      message: verifyFailedError().message,
      code: 'bambu_verify_failed',
    });
    this.#emit();
  }

  /** The model to act on: what the printer says first, what the user typed second. */
  get #model(): string | null {
    return this.#versionModel ?? this.#typedModel;
  }

  #build(): PrinterState {
    const model = this.#model;
    const hideChamber = !!model && /^(A1|P1)/i.test(model.trim());
    const state = buildState({
      link: this.#link,
      fullStatus: this.#fullStatus,
      stale: this.#stale,
      report: this.#report,
      lastJob: this.#lastJob,
      connectionNote: this.#note,
      driverError: this.#linkError,
      verifyFailed: this.#verifyFailed,
      reported: {
        model: this.#versionModel,
        nozzleDiameter: this.#report?.nozzleDiameter ?? null,
        firmware: this.#firmware,
      },
      updatedAt: this.#updatedAt,
      platesByJobId: this.#plates,
      hideChamber,
    });
    state.connectionIssue = this.#issue;
    return state;
  }

  #emit(): void {
    const state = this.#build();
    const key = JSON.stringify(state);
    if (key === this.#stateKey) return;
    this.#stateKey = key;
    this.#state = state;
    this.#ctx.onState(state);
  }

  #log(kind: string, message: string, detail?: Record<string, unknown>): void {
    this.#ctx.logger.info({ printerId: this.#ctx.printerId, kind, ...detail }, message);
    this.#ctx.bus.emit('printer.log', { printerId: this.#ctx.printerId, kind, message, detail });
  }

  // ---- commands ----------------------------------------------------------------------------

  #requireConnected(): void {
    if (!this.#mqtt.connected) throw new DriverError('not_connected', 'the printer is not connected');
  }

  async #send(
    cmd: BambuCommand,
    spec: Omit<PendingSpec, 'sequenceId' | 'command' | 'timeoutMs' | 'onTimeout'>,
  ): Promise<void> {
    this.#requireConnected();
    const sequenceId = String(cmd.body.sequence_id);
    const command = String(cmd.body.command);
    const waiting = this.#pending.wait({
      ...spec,
      sequenceId,
      command,
      timeoutMs: this.#o.commandTimeoutMs,
      onTimeout: () => new DriverError('command_timeout', `the printer did not confirm ${command}`),
    });
    this.#mqtt.publish(cmd, 1).catch((err: Error) => {
      this.#pending.fail(sequenceId, new DriverError('publish_failed', `could not send ${command}: ${err.message}`));
    });
    return waiting;
  }

  pause(): Promise<void> {
    return this.#send(pausePrint(this.#seq.next()), {
      ackConfirms: true,
      confirmedBy: (r) => r.gcodeState === 'PAUSE',
    });
  }

  resume(): Promise<void> {
    return this.#send(resumePrint(this.#seq.next()), {
      ackConfirms: true,
      confirmedBy: (r) => r.gcodeState === 'RUNNING',
    });
  }

  cancel(): Promise<void> {
    return this.#send(stopPrint(this.#seq.next()), {
      ackConfirms: true,
      confirmedBy: (r) => r.gcodeState !== null && READY_STATES.has(r.gcodeState),
    });
  }

  sendGcode(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return this.#send(gcodeLine(this.#seq.next(), lines), { ackConfirms: true });
  }

  /** The chamber light (system.ledctrl, as Bambu Studio sends it). */
  setLight(on: boolean): Promise<void> {
    return this.#send(ledCtrl(this.#seq.next(), 'chamber_light', on ? 'on' : 'off'), { ackConfirms: true });
  }

  /** The part-cooling fan (P1) through gcode_line, as Bambu Studio's fan slider does. */
  setFan(percent: number): Promise<void> {
    const s = Math.round((Math.max(0, Math.min(100, percent)) * 255) / 100);
    return this.sendGcode([`M106 P1 S${s}`]);
  }

  async clearError(): Promise<void> {
    // The user acknowledged: forget our own sticky verify-failed flag too (it comes back if still true).
    this.#verifyFailed = false;
    this.#emit();
    await this.#send(cleanPrintError(this.#seq.next()), { ackConfirms: true, confirmedBy: (r) => r.printError === 0 });
  }

  async snapshot(): Promise<Buffer | null> {
    // X1 family streams RTSPS on :322 instead of the :6000 JPEG socket: future work.
    if (this.#model && /^X1/i.test(this.#model.trim())) return null;
    try {
      return await grabCameraFrame(
        {
          host: this.#conn.host,
          port: this.#conn.cameraPort,
          accessCode: this.#conn.accessCode,
          tls: bambuTlsOptions(this.#conn, this.#ca),
        },
        this.#ctx.clock,
        this.#o.cameraTimeoutMs,
      );
    } catch (err) {
      throw new DriverError('camera_unavailable', `camera snapshot failed: ${(err as Error).message}`);
    }
  }

  #assertReadyToStart(): void {
    this.#requireConnected();
    const r = this.#report;
    if (!this.#fullStatus || this.#stale || !r)
      throw new DriverError('not_ready', 'the printer state is not known yet');
    if (this.#verifyFailed) {
      throw new StartRefusedError('verify_failed', verifyFailedError().message, verifyFailedError().params);
    }
    // Never send project_file to a busy printer: an A1 mini cancels its running job (pitfall 6).
    if (!r.gcodeState || !READY_STATES.has(r.gcodeState)) {
      throw new StartRefusedError('printer_busy', `the printer is busy (${r.gcodeState ?? 'unknown state'})`, {
        state: r.gcodeState ?? 'unknown',
      });
    }
    if (this.#state.status === 'error') {
      throw new StartRefusedError('printer_error', this.#state.error?.message ?? 'the printer reports an error', {
        error: this.#state.error?.code ?? null,
      });
    }
  }

  async startJob(req: StartJobRequest): Promise<void> {
    if (!isValidJobId(req.jobId))
      throw new DriverError('invalid_job_id', `job id must be a number below 2^31: ${req.jobId}`);
    this.#assertReadyToStart();
    // The library's display name may hold characters the printer's FAT storage refuses (553).
    const fileName = storageFileName(req.fileName, req.fileMd5);
    await this.#uploader.ensureOnPrinter({ ...req, fileName });
    this.#assertReadyToStart(); // the state may have changed during a long upload
    const sequenceId = this.#seq.next();
    const cmd = projectFile({
      sequenceId,
      fileName,
      plate: req.plate,
      gcodePath: req.gcodePath,
      md5: req.fileMd5,
      jobId: req.jobId,
      jobName: req.jobName,
      bedLeveling: req.overrides.bedLeveling,
      flowCalibration: req.overrides.flowCalibration,
      timelapse: req.overrides.timelapse,
      amsMapping: req.amsMapping ?? [],
      model: this.#model,
    });
    this.#plates.set(req.jobId, req.plate);
    await req.beforeStartCommand?.();
    const waiting = this.#pending.wait({
      sequenceId,
      command: 'project_file',
      // A success ack is not enough: the printer must show the job (state or subtask_id echo).
      ackConfirms: false,
      confirmedBy: (r) => (isActiveGcodeState(r.gcodeState) ? true : jobIdOf(r) === req.jobId),
      refusedBy: (r) =>
        formatPrintError(r.printError) === BUSY_PRINT_ERROR
          ? new DriverError('printer_busy', 'the printer refused the job: device is busy', { printError: BUSY_PRINT_ERROR })
          : null,
      timeoutMs: this.#o.startConfirmTimeoutMs,
      onTimeout: () => new StartNotConfirmedError(),
    });
    this.#log('job.start_sent', `project_file sent for job ${req.jobId}`, {
      jobId: req.jobId,
      fileName,
      plate: req.plate,
    });
    // Sent exactly once. If the publish errors, the command may still have landed: keep waiting for
    // the confirmation (or StartNotConfirmedError) instead of failing fast or re-sending.
    this.#mqtt
      .publish(cmd, 1)
      .catch((err: Error) => this.#ctx.logger.warn({ err: err.message }, 'bambu project_file publish error'));
    try {
      await waiting;
    } catch (err) {
      // An explicit answer to our own project_file (err_code / failed echo / busy) means it did not
      // start: say so, so the queue can put the copy back at once.
      if (err instanceof DriverError && !(err instanceof StartNotConfirmedError)) {
        this.#log('job.refused', `the printer refused job ${req.jobId}: ${err.message}`, { jobId: req.jobId, code: err.code });
        throw new StartRefusedError(err.code, err.message, err.params);
      }
      throw err;
    }
    this.#log('job.started', `the printer started job ${req.jobId}`, { jobId: req.jobId });
  }
}

export function createBambuDriver(ctx: DriverContext, options?: BambuDriverOptions): BambuDriver {
  return new BambuDriver(ctx, options);
}
