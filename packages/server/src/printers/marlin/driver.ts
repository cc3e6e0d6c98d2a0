import fs from 'node:fs';
import { classifyConnectError, issue } from '../connection-issue.ts';
import path from 'node:path';
import { DriverError, type DriverContext, type PrinterDriver, type StartJobRequest } from '../driver.ts';
import { initialPrinterState, type JobOutcome, type PrinterState } from '../model.ts';
import type { TimerHandle } from '../../util/clock.ts';
import { type MarlinConnection, parseMarlinConnection } from './connection.ts';
import { GcodeFileSource } from './file-source.ts';
import { numberedLine, stripComment } from './line-format.ts';
import { classifyLine, hasTemperatures, parseTemperatureLine } from './parse.ts';
import { LineSender } from './sender.ts';
import { applyTemperatures, type TargetMemory, targetFromCommand } from './temperatures.ts';
import { createTransport, type LineTransport } from './transport.ts';

const HELLO = numberedLine(0, 'M110 N0'); // N0 M110 N0*125
const HELLO_RETRY_MS = 2000;
const HELLO_ATTEMPTS = 5;
const POLL_TEMP_MS = 5000;
const SD_POLL_MS = 2000;
/** How long shutdown waits for the printer to take the cancel script (the CLI exits after 15 s). */
const SAFE_STOP_MS = 8000;
/** Kept in the printer's data dir while a job streams; left behind only when the server died. */
const STREAM_MARKER = 'streaming-job.json';

type ActiveJob = {
  req: StartJobRequest;
  mode: 'stream' | 'sd-upload' | 'sd';
  source: GcodeFileSource | null;
  sdName: string | null;
  cancelling: boolean;
};

/** Marlin over USB serial or a tcp:// bridge, driven the way OctoPrint does it (docs §1), plus ADVANCED_OK send-ahead. */
export class MarlinDriver implements PrinterDriver {
  #conn: MarlinConnection;
  #state: PrinterState = initialPrinterState();
  #transport: LineTransport | null = null;
  #sender: LineSender | null = null;
  #session = 0;
  #stopped = false;
  #backoffMs = 1000;
  #reconnectTimer: TimerHandle | null = null;
  #pollTimer: TimerHandle | null = null;
  #helloDone: (() => void) | null = null;
  /** While a console command runs: receives every line the printer sends. */
  #consoleTap: ((line: string) => void) | null = null;
  #ready = false;
  #capabilities = new Map<string, boolean>();
  #firmware: Record<string, string> = {};
  #job: ActiveJob | null = null;
  #idleWaiters: Array<() => void> = [];
  #lastPercent = -1;
  #pollPending = false;
  #starting = false;
  /** Last known heater targets (reported or sent by us): a report without a target keeps them. */
  #targets: TargetMemory = {};
  #currentTool = 0;

  constructor(private readonly ctx: DriverContext) {
    this.#conn = parseMarlinConnection({ ...(ctx.settings as object), ...ctx.connection });
  }

  get capabilities(): ReadonlyMap<string, boolean> {
    return this.#capabilities;
  }
  get firmware(): Readonly<Record<string, string>> {
    return this.#firmware;
  }
  get sender(): LineSender | null {
    return this.#sender;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#set({ status: 'connecting' });
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.ctx.clock.clearTimeout(this.#reconnectTimer);
    // A streamed print cannot go on without its host: end it the way cancel does (heaters off,
    // park) before the connection goes, so shutdown never leaves a hot nozzle sitting on the part.
    // An SD print runs on the printer itself and carries on.
    if (this.#job && this.#job.mode !== 'sd') {
      await this.#endSafely(this.#job).then(
        () => this.#markStreaming(null),
        (err) => this.#log('stop_unsafe', `could not end the print safely: ${(err as Error).message}`),
      );
      await this.#endJob('failed', 'server stopped: the streamed print was ended (heaters off)', false);
    }
    await this.#teardown(new DriverError('stopped', 'driver stopped'));
    this.#set({ status: 'offline', fullStatus: false });
  }

  getState(): PrinterState {
    return structuredClone(this.#state);
  }

  /** The cancel sequence, bounded in time: stop feeding, close an SD upload, run the cancel G-code. */
  async #endSafely(job: ActiveJob): Promise<void> {
    const sender = this.#sender;
    if (!sender || !this.#ready) throw new Error('the printer is not connected');
    job.cancelling = true;
    sender.setJob(null);
    const deadline = Date.now() + SAFE_STOP_MS;
    const bounded = <T>(p: Promise<T>) =>
      Promise.race([
        p,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('printer did not answer in time')), Math.max(0, deadline - Date.now())).unref()),
      ]);
    await bounded(this.#whenIdle());
    if (job.mode === 'sd-upload') await bounded(sender.send('M29'));
    for (const line of this.#conn.cancelGcode) await bounded(sender.send(line));
  }

  #markStreaming(jobId: string | null): void {
    const file = path.join(this.ctx.dataDir, STREAM_MARKER);
    try {
      if (jobId) fs.writeFileSync(file, JSON.stringify({ jobId, at: new Date(this.ctx.clock.now()).toISOString() }));
      else fs.rmSync(file, { force: true });
    } catch (err) {
      this.ctx.logger.warn({ err: (err as Error).message }, 'cannot record the streaming job marker');
    }
  }

  /**
   * After a restart: a marker left behind means the last server died while streaming, so the job's
   * outcome is unknown and the heaters may still be on (a TCP bridge does not reset the board).
   * Turn every heater and the part fan off before anything else.
   */
  async #coolDownAfterLostStream(sender: LineSender): Promise<void> {
    const file = path.join(this.ctx.dataDir, STREAM_MARKER);
    if (!fs.existsSync(file)) return;
    const extruders = Math.max(1, Number(this.#firmware.EXTRUDER_COUNT) || 1);
    for (let t = 0; t < extruders; t++) await sender.send(extruders > 1 ? `M104 T${t} S0` : 'M104 S0');
    await sender.send('M140 S0');
    await sender.send('M107');
    this.#markStreaming(null);
    this.#log('lost_stream_cooled', 'a streamed print was cut off by a server stop; its outcome is unknown: heaters turned off');
  }

  async startJob(req: StartJobRequest): Promise<void> {
    const sender = this.#requireReady();
    if (this.#state.status !== 'idle' || this.#job || this.#starting) {
      throw new DriverError('busy', `printer is ${this.#starting ? 'starting a job' : this.#state.status}`);
    }
    if (req.gcodePath) throw new DriverError('unsupported_file', 'Marlin prints plain .gcode files, not .3mf projects');
    const useSd = this.#conn.printFrom === 'sd';
    this.#starting = true;
    let source: GcodeFileSource;
    try {
      source = await GcodeFileSource.open(req.localPath, {
        onReady: () => this.#sender?.pump(),
        onTake: (command) => this.#onJobLine(command),
      });
    } finally {
      this.#starting = false;
    }
    const sdName = useSd ? `j${req.jobId.slice(-7)}.gco` : null;
    this.#job = { req, mode: useSd ? 'sd-upload' : 'stream', source, sdName, cancelling: false };
    this.#lastPercent = -1;
    this.#set({
      status: 'printing',
      job: { jobId: req.jobId, fileName: req.fileName, plate: req.plate },
      progress: 0,
      remainingSeconds: null,
      stage: useSd ? 'uploading to SD card' : null,
      stageCode: useSd ? 'uploading_to_sd' : null,
      error: null,
    });
    if (useSd) await sender.send(`M28 ${sdName}`);
    else this.#markStreaming(req.jobId);
    sender.setJob(source);
  }

  async pause(): Promise<void> {
    const sender = this.#requireReady();
    if (this.#state.status !== 'printing' || !this.#job) throw new DriverError('not_printing', 'nothing is printing');
    const mode = this.#job.mode;
    if (mode === 'sd') await sender.send('M25');
    else sender.pauseJob(true);
    this.#set({ status: 'paused' });
    await this.#whenIdle();
    // While copying to the SD card nothing moves, and anything sent would land in the file.
    if (mode !== 'sd-upload') for (const line of this.#conn.pauseGcode) await sender.send(line);
  }

  async resume(): Promise<void> {
    const sender = this.#requireReady();
    if (this.#state.status !== 'paused' || !this.#job) throw new DriverError('not_paused', 'nothing is paused');
    if (this.#job.mode !== 'sd-upload') for (const line of this.#conn.resumeGcode) await sender.send(line);
    this.#set({ status: 'printing' });
    if (this.#job.mode === 'sd') await sender.send('M24');
    else sender.pauseJob(false);
    // The file may have run out while paused: nothing left to send means no further ok to wait for.
    if (sender.idle) await this.#checkJobDone();
  }

  async cancel(): Promise<void> {
    const sender = this.#requireReady();
    const job = this.#job;
    if (!job) throw new DriverError('not_printing', 'nothing is printing');
    job.cancelling = true;
    sender.setJob(null);
    await this.#whenIdle();
    if (job.mode === 'sd') await sender.send('M524');
    if (job.mode === 'sd-upload') await sender.send('M29'); // close the half-written file first
    for (const line of this.#conn.cancelGcode) await sender.send(line);
    await this.#endJob('cancelled');
  }

  async sendGcode(lines: string[]): Promise<void> {
    const sender = this.#requireReady();
    for (const raw of lines) {
      const line = stripComment(raw);
      if (!line) continue;
      if (/^M112\b/i.test(line)) sender.forceWrite('M112');
      // EMERGENCY_PARSER firmware acts on these on arrival, so they jump the queue (OctoPrint does the same).
      else if (/^M(108|410)\b/i.test(line) && this.#capabilities.get('EMERGENCY_PARSER')) sender.forceWrite(line);
      else await sender.send(line);
    }
  }

  /** Console: each line is sent in turn; the printer's lines until its `ok` are its answer. */
  async console(lines: string[]): Promise<string[]> {
    const sender = this.#requireReady();
    const out: string[] = [];
    const asksTemps = lines.some((l) => /^\s*M105\b/i.test(l));
    // Temperature autoreports arrive on their own every few seconds: not an answer unless M105 was asked.
    this.#consoleTap = (line) => {
      if (!asksTemps && /^\s*T:/.test(line)) return;
      out.push(line);
    };
    try {
      for (const raw of lines) {
        const line = stripComment(raw);
        if (line) await sender.send(line);
      }
    } finally {
      this.#consoleTap = null;
    }
    return out;
  }

  async setLight(on: boolean): Promise<void> {
    await this.#requireReady().send(on ? 'M355 S1' : 'M355 S0');
  }

  async setFan(percent: number): Promise<void> {
    const s = Math.round((Math.max(0, Math.min(100, percent)) * 255) / 100);
    await this.#requireReady().send(s === 0 ? 'M107' : `M106 S${s}`);
  }

  async snapshot(): Promise<Buffer | null> {
    return null;
  }

  async clearError(): Promise<void> {
    if (this.#state.status !== 'error') return;
    this.#set({ error: null, status: 'connecting' });
    this.#stopped = false;
    await this.#teardown(new DriverError('reconnecting', 'reconnecting after error'));
    void this.#connect();
  }

  // ---- connection ----

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const session = ++this.#session;
    const transport = createTransport(this.#conn.target);
    try {
      await transport.open();
    } catch (err) {
      this.#set({
        status: 'offline',
        connectionNote: `cannot open ${this.#describeTarget()}: ${(err as Error).message}`,
        connectionIssue: classifyConnectError(err, this.#issueTarget()),
      });
      return this.#scheduleReconnect();
    }
    if (session !== this.#session || this.#stopped) return void transport.close();
    this.#transport = transport;
    const sender = new LineSender({
      clock: this.ctx.clock,
      write: (line) => {
        transport.write(line);
        this.#noteSent(line);
      },
      onResendWithoutOk: (n) => this.#log('resend_without_ok', `no ok after Resend: ${n}; replaying it anyway`),
      okTimeoutMs: this.#conn.okTimeoutMs,
      maxConsecutiveTimeouts: this.#conn.maxConsecutiveTimeouts,
      maxWindow: this.#conn.maxInFlight,
      rxBudgetBytes: this.#conn.rxBudgetBytes,
      onFailure: (code, message) => void this.#onCommFailure(code, message),
      onTimeout: (n) => this.#log('timeout', `no ok within ${this.#conn.okTimeoutMs} ms (${n}); sent M105`),
    });
    this.#sender = sender;
    sender.onDrained = () => void this.#checkJobDone();
    transport.onLine((line) => session === this.#session && this.#onLine(line));
    transport.onClose((err) => session === this.#session && void this.#onClosed(err));
    try {
      await this.#handshake(sender);
      if (session !== this.#session) return;
      await this.#coolDownAfterLostStream(sender);
      if (session !== this.#session) return;
      this.#backoffMs = 1000;
      this.#ready = true;
      this.#set({ status: 'idle', fullStatus: true, connectionNote: null, connectionIssue: null });
      this.#log('connected', `connected to ${this.#firmware.FIRMWARE_NAME ?? 'firmware'}`);
    } catch (err) {
      if (session !== this.#session) return;
      this.#set({
        connectionNote: `handshake failed: ${(err as Error).message}`,
        // No answer at all is a timeout (wrong baud rate, board not booted); an answer we cannot use is the wrong protocol.
        connectionIssue: issue((err as DriverError).code === 'no_hello' ? 'timeout' : 'protocol_error', {
          ...this.#issueTarget(),
          where: this.#describeTarget(),
          detail: (err as Error).message,
        }),
      });
      await this.#teardown(err as Error);
      this.#scheduleReconnect();
    }
  }

  async #handshake(sender: LineSender): Promise<void> {
    // Boards often lose the first line to reset noise, so the hello is repeated until answered.
    await new Promise<void>((resolve, reject) => {
      let attempts = 0;
      let timer: TimerHandle | null = null;
      const tryHello = () => {
        if (attempts++ >= HELLO_ATTEMPTS) return reject(new DriverError('no_hello', 'no answer to M110'));
        this.#transport?.write(HELLO);
        timer = this.ctx.clock.setTimeout(tryHello, HELLO_RETRY_MS);
      };
      this.#helloDone = () => {
        this.ctx.clock.clearTimeout(timer);
        this.#helloDone = null;
        resolve();
      };
      tryHello();
    });
    sender.resetLineNumbers();
    this.#capabilities.clear();
    await sender.send('M115');
    if (this.#capabilities.get('AUTOREPORT_TEMP')) await sender.send('M155 S2');
    else this.#pollTimer = this.ctx.clock.setInterval(() => this.#pollTemperature(), POLL_TEMP_MS);
    if (this.#capabilities.get('AUTOREPORT_SD_STATUS') && this.#conn.printFrom === 'sd') await sender.send('M27 S2');
    else if (this.#conn.printFrom === 'sd' && !this.#pollTimer) {
      this.#pollTimer = this.ctx.clock.setInterval(() => this.#pollTemperature(), SD_POLL_MS);
    }
    await sender.send('M105');
  }

  #pollTemperature(): void {
    const sender = this.#sender;
    if (!sender || !this.#ready || this.#pollPending) return;
    const polls: string[] = [];
    if (this.#job?.mode === 'sd' && !this.#capabilities.get('AUTOREPORT_SD_STATUS')) polls.push('M27');
    if (!this.#capabilities.get('AUTOREPORT_TEMP')) polls.push('M105');
    if (!polls.length) return;
    // One poll at a time, interleaved with print lines; never pile up behind a slow command.
    this.#pollPending = true;
    void Promise.all(polls.map((c) => sender.send(c)))
      .catch(() => {})
      .finally(() => {
        this.#pollPending = false;
      });
  }

  async #teardown(reason: Error): Promise<void> {
    this.#session++;
    this.#ready = false;
    this.#helloDone = null;
    this.ctx.clock.clearInterval(this.#pollTimer);
    this.#pollTimer = null;
    this.#sender?.stop(reason);
    this.#sender = null;
    for (const w of this.#idleWaiters.splice(0)) w();
    const t = this.#transport;
    this.#transport = null;
    await t?.close().catch(() => {});
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#state.status === 'error') return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, 30_000);
    this.ctx.clock.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = this.ctx.clock.setTimeout(() => void this.#connect(), delay);
  }

  async #onClosed(err?: Error): Promise<void> {
    this.#log('disconnected', `connection lost${err ? `: ${err.message}` : ''}`);
    if (this.#job) await this.#endJob('failed', 'connection lost');
    await this.#teardown(err ?? new DriverError('disconnected', 'connection lost'));
    if (this.#state.status !== 'error') this.#set({ status: 'connecting', fullStatus: false, connectionIssue: issue('disconnected', this.#issueTarget()) });
    this.#scheduleReconnect();
  }

  async #onCommFailure(code: string, message: string): Promise<void> {
    this.#log(code, message);
    if (this.#job) await this.#endJob('failed', message);
    await this.#teardown(new DriverError(code, message));
    this.#set({ status: 'connecting', fullStatus: false, connectionNote: message, connectionIssue: issue('disconnected', { ...this.#issueTarget(), detail: message }) });
    this.#scheduleReconnect();
  }

  /** OctoPrint's default errorHandling=disconnect: M112, heaters off, disconnect; status error until cleared. */
  async #fatal(message: string): Promise<void> {
    // Marlin names the cause first (`Error:Thermal Runaway, system stopped!…`) and then prints
    // `Error:Printer halted. kill() called!`: keep the cause, only log what follows.
    if (this.#state.status === 'error') return this.#log('fatal', message);
    const sender = this.#sender;
    if (sender) {
      if (this.#job?.mode !== 'sd') sender.forceWrite('M112');
      sender.forceWrite('M104 S0');
      sender.forceWrite('M140 S0');
    }
    // The error is reported while the job is still shown, so whoever follows the job (the queue)
    // sees the fault as part of it; then the job is closed as failed.
    this.#set({ status: 'error', error: { code: 'firmware_error', message } });
    if (this.#job) await this.#endJob('failed', message, false);
    this.#log('fatal', message);
    await this.#teardown(new DriverError('firmware_error', message));
  }

  // ---- incoming lines ----

  #onLine(raw: string): void {
    const sender = this.#sender;
    if (!sender) return;
    this.#consoleTap?.(raw);
    sender.activity();
    const parsed = classifyLine(raw);
    switch (parsed.kind) {
      case 'ok':
        if (this.#helloDone) this.#helloDone();
        else sender.ok(parsed.advanced);
        break;
      case 'wait':
        if (this.#job && sender.inFlight > 0) sender.ok();
        break;
      case 'resend':
        sender.resend(parsed.lineNumber);
        break;
      case 'error':
        if (parsed.errorClass === 'fatal') return void this.#fatal(parsed.message);
        if (parsed.errorClass === 'simulate_ok') sender.ok();
        else this.#log('firmware_error_line', parsed.message);
        break;
      case 'start':
        if (this.#ready) void this.#onClosed(new Error('printer reset itself (start)'));
        break;
      case 'firmware':
        this.#firmware = parsed.fields;
        break;
      case 'capability':
        this.#capabilities.set(parsed.name, parsed.enabled);
        break;
      case 'sd_progress':
        if (this.#job?.mode === 'sd' && parsed.total > 0) this.#setProgress(parsed.current / parsed.total);
        break;
      case 'sd_done':
        if (this.#job?.mode === 'sd') void this.#endJob('finished');
        break;
      case 'action':
        this.#onAction(parsed.action, parsed.params);
        break;
      default:
        break;
    }
    if (hasTemperatures(raw)) {
      const { temps } = parseTemperatureLine(raw, this.#currentTool);
      this.#set({ temperatures: applyTemperatures(this.#state.temperatures, temps, this.#currentTool, this.#targets) });
    }
  }

  /**
   * Host action commands (`//action:x` from Marlin, `// action:x` from Prusa firmware, Klipper,
   * Repetier; OctoPrint's set): `cancel` ends the job as cancelled and stops streaming at once;
   * `pause`/`resume` ask the host to pause/resume (with the configured G-code); `paused`/`resumed`
   * say the printer already did it itself (streaming only stops/continues). A printer that says it
   * paused while we stream nothing is not idle and ready: it shows `paused` until it resumes.
   */
  #onAction(action: string, params: string): void {
    this.#log('action', `${action} ${params}`.trim());
    const job = this.#job;
    const status = this.#state.status;
    switch (action) {
      case 'cancel':
        if (job && !job.cancelling) void this.cancel().catch((err) => this.#log('cancel_failed', (err as Error).message));
        else if (!job && status === 'paused') this.#set({ status: 'idle' });
        break;
      case 'pause':
        if (job && status === 'printing') void this.pause().catch((err) => this.#log('pause_failed', (err as Error).message));
        break;
      case 'paused':
        if (job && status === 'printing') {
          if (job.mode === 'sd') this.#set({ status: 'paused' });
          else {
            this.#sender?.pauseJob(true);
            this.#set({ status: 'paused' });
          }
        } else if (!job && status === 'idle') this.#set({ status: 'paused' });
        break;
      case 'resume':
        if (job && status === 'paused') void this.resume().catch((err) => this.#log('resume_failed', (err as Error).message));
        break;
      case 'resumed':
        if (job && status === 'paused') {
          this.#set({ status: 'printing' });
          if (job.mode !== 'sd') {
            this.#sender?.pauseJob(false);
            if (this.#sender?.idle) void this.#checkJobDone();
          }
        } else if (!job && status === 'paused') this.#set({ status: 'idle' });
        break;
      default:
        break;
    }
  }

  /** Targets the host sends (any line: job, user G-code, pause/cancel scripts) are the new known targets. */
  #noteSent(line: string): void {
    if (!/M1[049]\d|T\d/i.test(line)) return; // cheap filter: most lines are moves
    const t = targetFromCommand(line, this.#currentTool);
    if (!t) return;
    if ('tool' in t) {
      this.#currentTool = t.tool;
      return;
    }
    const temps = { ...this.#state.temperatures };
    let changed = false;
    for (const key of t.keys) {
      this.#targets[key] = t.target;
      const cur = temps[key];
      if (cur && cur.target !== t.target) {
        temps[key] = { ...cur, target: t.target };
        changed = true;
      }
    }
    if (changed) this.#set({ temperatures: temps });
  }

  // ---- jobs ----

  #onJobLine(command: string): void {
    const job = this.#job;
    if (!job?.source) return;
    const m73 = /^M73\b.*?\bR(\d+)/.exec(command);
    if (m73) this.#set({ remainingSeconds: Number(m73[1]) * 60 });
    if (job.mode === 'stream') this.#setProgress(job.source.bytesSent / Math.max(1, job.source.size));
  }

  #setProgress(progress: number): void {
    const percent = Math.floor(progress * 100);
    if (percent === this.#lastPercent) return;
    this.#lastPercent = percent;
    // The printer model speaks percent (0–100), as the API does.
    this.#set({ progress: Math.min(100, Math.round(progress * 1000) / 10) });
  }

  async #checkJobDone(): Promise<void> {
    for (const w of this.#idleWaiters.splice(0)) w();
    const job = this.#job;
    const sender = this.#sender;
    if (!job?.source || job.cancelling || !sender || !job.source.finished || !sender.idle) return;
    if (this.#state.status === 'paused') return;
    if (job.mode === 'stream') return this.#endJob('finished');
    if (job.mode === 'sd-upload') {
      job.mode = 'sd';
      sender.setJob(null);
      await job.source.close();
      await sender.send('M29');
      await sender.send(`M23 ${job.sdName}`);
      this.#set({ stage: null, stageCode: null, progress: 0 });
      await sender.send('M24');
    }
  }

  async #endJob(outcome: JobOutcome, message?: string, emit = true): Promise<void> {
    const job = this.#job;
    if (!job) return;
    this.#job = null;
    this.#sender?.setJob(null);
    // A stream cut off (connection lost, comm failure) keeps its marker: the heaters go off as soon
    // as the printer is back (#coolDownAfterLostStream).
    if (job.mode === 'stream' && (outcome === 'finished' || outcome === 'cancelled')) this.#markStreaming(null);
    await job.source?.close();
    const lastJob = { jobId: job.req.jobId, outcome, at: this.ctx.clock.now() };
    const patch: Partial<PrinterState> = { lastJob, job: null, stage: null, stageCode: null, remainingSeconds: null };
    if (outcome === 'finished') patch.progress = 100;
    if (this.#ready && emit) patch.status = 'idle';
    this.#set(patch);
    this.#log(`job_${outcome}`, message ?? `job ${job.req.jobId} ${outcome}`);
  }

  #whenIdle(): Promise<void> {
    const sender = this.#sender;
    if (!sender || sender.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  // ---- helpers ----

  #requireReady(): LineSender {
    if (!this.#ready || !this.#sender) throw new DriverError('not_connected', `printer is ${this.#state.status}`);
    return this.#sender;
  }

  /** Where the link goes, as connection-issue params. */
  #issueTarget(): { host?: string; port?: number; path?: string } {
    const t = this.#conn.target;
    return t.kind === 'tcp' ? { host: t.host, port: t.port } : { path: t.path };
  }

  #describeTarget(): string {
    const t = this.#conn.target;
    return t.kind === 'tcp' ? `tcp://${t.host}:${t.port}` : t.path;
  }

  #log(kind: string, message: string): void {
    this.ctx.logger.debug({ printerId: this.ctx.printerId, kind }, message);
    this.ctx.bus.emit('printer.log', { printerId: this.ctx.printerId, kind, message });
  }

  #set(patch: Partial<PrinterState>): void {
    this.#state = { ...this.#state, ...patch, updatedAt: this.ctx.clock.now() };
    this.ctx.onState(structuredClone(this.#state));
  }
}
