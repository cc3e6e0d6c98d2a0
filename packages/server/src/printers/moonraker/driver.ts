import path from 'node:path';
import { classifyConnectError, issue } from '../connection-issue.ts';
import { DriverError, type DriverContext, type PrinterDriver, type StartJobRequest, StartNotConfirmedError } from '../driver.ts';
import { initialPrinterState, type JobOutcome, type PrinterState } from '../model.ts';
import type { TimerHandle } from '../../util/clock.ts';
import { fetchImage } from '../../util/http-image.ts';
import { type MoonrakerConnection, parseMoonrakerConnection } from './connection.ts';
import { RpcSocket } from './rpc.ts';
import { mapStatus, mergeStatus, type MoonrakerObjects, SUBSCRIBED_OBJECTS } from './state-map.ts';
import { uploadFile } from './upload.ts';

const KLIPPY_POLL_MS = 2000;
const UPLOAD_FOLDER = 'rwc';
/** How a print ended, by print_stats.state (`completed`: Anycubic's Klipper for `complete`). */
const ENDED_BY_STATE = new Map<string, JobOutcome>([
  ['complete', 'finished'],
  ['completed', 'finished'],
  ['cancelled', 'cancelled'],
  ['error', 'failed'],
  ['standby', 'cancelled'],
]);
/** A Map, not an object: a state such as "constructor" must never find an inherited property. */
const ENDED = (state: string | null): JobOutcome | undefined => (state === null ? undefined : ENDED_BY_STATE.get(state));

/**
 * Klipper through Moonraker: JSON-RPC 2.0 on /websocket, printer.objects.subscribe + merged
 * notify_status_update deltas, uploads over HTTP. Our queue decides what prints next; Moonraker's
 * own job_queue is never used.
 */
export class MoonrakerDriver implements PrinterDriver {
  /** Console commands in flight: each receives the gcode responses. */
  readonly #gcodeTaps = new Set<(line: string) => void>();
  readonly announcesStartCommand = true;
  #conn: MoonrakerConnection;
  #state: PrinterState = initialPrinterState();
  #rpc: RpcSocket | null = null;
  #objects: MoonrakerObjects = {};
  #klippyState = 'disconnected';
  #session = 0;
  #stopped = false;
  #backoffMs = 1000;
  #reconnectTimer: TimerHandle | null = null;
  #pollTimer: TimerHandle | null = null;
  #activeJob: { jobId: string; filename: string; plate: number; startSent: boolean } | null = null;
  #prevPrintState: string | null = null;
  #prevFilename: unknown = null;
  #changeWaiters = new Set<() => void>();

  constructor(private readonly ctx: DriverContext) {
    this.#conn = parseMoonrakerConnection(ctx.connection);
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#set({ status: 'connecting' });
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#session++;
    this.ctx.clock.clearTimeout(this.#reconnectTimer);
    this.ctx.clock.clearTimeout(this.#pollTimer);
    this.#rpc?.close();
    this.#rpc = null;
    this.#set({ status: 'offline', fullStatus: false });
  }

  getState(): PrinterState {
    return structuredClone(this.#state);
  }

  async startJob(req: StartJobRequest): Promise<void> {
    const rpc = this.#requireRpc();
    if (this.#state.status !== 'idle' || !this.#state.fullStatus) {
      throw new DriverError('busy', `printer is ${this.#state.status}`);
    }
    if (req.gcodePath) throw new DriverError('unsupported_file', 'Klipper prints plain .gcode files, not .3mf projects');
    const base = path.basename(req.fileName).replace(/[^\w.\- ]+/g, '_');
    const remoteName = `${req.jobId}-${/\.(gcode|g|gco|nc)$/i.test(base) ? base : `${base}.gcode`}`;
    const uploaded = await uploadFile({
      baseUrl: this.#conn.url,
      apiKey: this.#conn.apiKey,
      localPath: req.localPath,
      remoteName,
      folder: UPLOAD_FOLDER,
      onProgress: req.onUploadProgress,
    });
    const active = { jobId: req.jobId, filename: uploaded.path, plate: req.plate, startSent: false };
    this.#activeJob = active;
    // After the upload, right before the start: a crash before this line provably sent nothing.
    await req.beforeStartCommand?.();
    active.startSent = true;
    await rpc.call('printer.print.start', { filename: uploaded.path });
    const started = await this.#waitFor(() => {
      const ps = this.#objects.print_stats ?? {};
      return ps.filename === uploaded.path && ['printing', 'paused', 'complete', 'completed'].includes(ps.state as string);
    }, this.#conn.startConfirmSeconds * 1000);
    if (!started) throw new StartNotConfirmedError();
  }

  async pause(): Promise<void> {
    await this.#requireRpc().call('printer.print.pause');
  }

  async resume(): Promise<void> {
    await this.#requireRpc().call('printer.print.resume');
  }

  async cancel(): Promise<void> {
    await this.#requireRpc().call('printer.print.cancel');
  }

  async sendGcode(lines: string[]): Promise<void> {
    await this.#requireRpc().call('printer.gcode.script', { script: lines.join('\n') });
  }

  /** Console: the gcode responses Klipper sends while the script runs are its answer. */
  async console(lines: string[]): Promise<string[]> {
    const rpc = this.#requireRpc();
    const out: string[] = [];
    const tap = (line: string) => out.push(line);
    this.#gcodeTaps.add(tap);
    try {
      await rpc.call('printer.gcode.script', { script: lines.join('\n') });
    } catch (err) {
      // Klipper refuses a bad line with an RPC error: that is the answer, not a failure of the console.
      if (!(err instanceof DriverError) || !err.code.startsWith('rpc_')) throw err;
      out.push(`!! ${err.message}`);
    } finally {
      this.#gcodeTaps.delete(tap);
    }
    return out;
  }

  async setFan(percent: number): Promise<void> {
    const s = Math.round((Math.max(0, Math.min(100, percent)) * 255) / 100);
    await this.#requireRpc().call('printer.gcode.script', { script: s === 0 ? 'M107' : `M106 S${s}` });
  }

  /**
   * The first enabled webcam Moonraker announces (`server.webcams.list`, Moonraker's `[webcam]`
   * sections / crowsnest): its snapshot URL, or a frame cut from its MJPEG stream. Relative URLs
   * are on the Moonraker host; the API key goes only to that host. Null when none is announced.
   */
  async snapshot(): Promise<Buffer | null> {
    const rpc = this.#requireRpc();
    let list: { webcams?: Array<Record<string, unknown>> };
    try {
      list = (await rpc.call('server.webcams.list')) as typeof list;
    } catch {
      return null; // older Moonraker without the webcam component
    }
    const cam = (list.webcams ?? []).find((w) => w.enabled !== false && (w.snapshot_url || w.stream_url));
    if (!cam) return null;
    const base = new URL(this.#conn.url);
    const target = new URL(String(cam.snapshot_url || cam.stream_url), base);
    const headers: Record<string, string> = {};
    if (this.#conn.apiKey && target.origin === base.origin) headers['x-api-key'] = this.#conn.apiKey;
    try {
      return await fetchImage(target.href, { headers, timeoutMs: 5000 });
    } catch (err) {
      throw new DriverError('camera_unavailable', `webcam "${String(cam.name ?? '')}": ${(err as Error).message}`);
    }
  }

  /** Klippy shutdown/error → FIRMWARE_RESTART; a failed print → SDCARD_RESET_FILE. */
  async clearError(): Promise<void> {
    const rpc = this.#requireRpc();
    const klippy = (this.#objects.webhooks?.state as string | undefined) ?? this.#klippyState;
    if (klippy === 'shutdown' || klippy === 'error') await rpc.call('printer.firmware_restart');
    else if (this.#objects.print_stats?.state === 'error') await rpc.call('printer.gcode.script', { script: 'SDCARD_RESET_FILE' });
  }

  // ---- connection ----

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const session = ++this.#session;
    const rpc = new RpcSocket(this.ctx.clock);
    try {
      const wsUrl = new URL('/websocket', this.#conn.url.replace(/^http/, 'ws'));
      const headers: Record<string, string> = {};
      if (this.#conn.apiKey && this.#conn.auth === 'oneshot') wsUrl.searchParams.set('token', await this.#oneshotToken());
      else if (this.#conn.apiKey) headers['X-Api-Key'] = this.#conn.apiKey;
      await rpc.open(wsUrl.toString(), headers);
      if (session !== this.#session) return rpc.close();
      this.#rpc = rpc;
      rpc.onNotification = (method, params) => session === this.#session && this.#onNotification(method, params);
      rpc.onClose = () => session === this.#session && this.#onClosed();
      await rpc.call('server.connection.identify', {
        client_name: 'RealWorldClaw',
        version: '0.1.0',
        type: 'agent',
        url: 'https://github.com/realworldclaw',
      });
      this.#backoffMs = 1000;
      this.#log('connected', `connected to Moonraker at ${this.#conn.url}`);
      await this.#syncKlippy(session);
    } catch (err) {
      if (session !== this.#session) return;
      const e = err as DriverError;
      rpc.close();
      this.#rpc = null;
      const note = e.code === 'unauthorized' ? 'Moonraker refused the API key' : `cannot reach Moonraker: ${e.message}`;
      const connectionIssue =
        e.code === 'unauthorized' ? issue('wrong_access_code', { driver: 'moonraker', ...this.#target() }) : classifyConnectError(err, this.#target());
      this.#set({ status: 'offline', fullStatus: false, connectionNote: note, connectionIssue });
      this.#scheduleReconnect();
    }
  }

  async #oneshotToken(): Promise<string> {
    const res = await fetch(new URL('/access/oneshot_token', this.#conn.url), {
      headers: { 'X-Api-Key': this.#conn.apiKey ?? '' },
    });
    if (res.status === 401) throw new DriverError('unauthorized', 'oneshot token refused');
    if (!res.ok) throw new DriverError('unreachable', `oneshot token: HTTP ${res.status}`);
    return ((await res.json()) as { result: string }).result;
  }

  /** server.info until klippy is ready, then subscribe (the result is the full state). */
  async #syncKlippy(session: number): Promise<void> {
    const rpc = this.#rpc;
    if (!rpc || session !== this.#session) return;
    this.ctx.clock.clearTimeout(this.#pollTimer);
    try {
      const info = await rpc.call<{ klippy_state: string }>('server.info');
      this.#klippyState = info.klippy_state;
      if (info.klippy_state === 'ready') {
        const res = await rpc.call<{ status: MoonrakerObjects }>('printer.objects.subscribe', { objects: SUBSCRIBED_OBJECTS });
        if (session !== this.#session) return;
        this.#objects = res.status;
        this.#apply(true);
        return;
      }
      let message = `Klipper is ${info.klippy_state}`;
      if (info.klippy_state === 'shutdown' || info.klippy_state === 'error') {
        const pi = await rpc.call<{ state_message?: string }>('printer.info').catch(() => null);
        message = pi?.state_message ?? message;
      }
      this.#objects = mergeStatus(this.#objects, { webhooks: { state: info.klippy_state, state_message: message } });
      this.#apply(true);
    } catch (err) {
      this.#log('sync_failed', (err as Error).message);
    }
    if (session === this.#session) {
      this.#pollTimer = this.ctx.clock.setTimeout(() => void this.#syncKlippy(session), KLIPPY_POLL_MS);
    }
  }

  #onNotification(method: string, params: unknown[]): void {
    switch (method) {
      case 'notify_gcode_response':
        for (const tap of this.#gcodeTaps) tap(String(params[0] ?? ''));
        break;
      case 'notify_status_update':
        this.#objects = mergeStatus(this.#objects, params[0] as MoonrakerObjects);
        this.#apply(false);
        break;
      case 'notify_klippy_ready':
        void this.#syncKlippy(this.#session);
        break;
      case 'notify_klippy_shutdown':
      case 'notify_klippy_disconnected': {
        const state = method === 'notify_klippy_shutdown' ? 'shutdown' : 'disconnected';
        this.#klippyState = state;
        this.#objects = mergeStatus(this.#objects, { webhooks: { state } });
        this.#apply(false);
        void this.#syncKlippy(this.#session);
        break;
      }
      default:
        break;
    }
  }

  #onClosed(): void {
    this.#session++;
    this.ctx.clock.clearTimeout(this.#pollTimer);
    this.#rpc = null;
    this.#log('disconnected', 'websocket closed; reconnecting');
    this.#set({ status: 'connecting', fullStatus: false, connectionIssue: issue('disconnected', this.#target()) });
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, 30_000);
    this.ctx.clock.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = this.ctx.clock.setTimeout(() => void this.#connect(), delay);
  }

  // ---- state ----

  #apply(full: boolean): void {
    const patch = mapStatus(this.#objects, this.#klippyState);
    const klippy = (this.#objects.webhooks?.state as string | undefined) ?? this.#klippyState;
    const stats = this.#objects.print_stats ?? {};
    const ps = klippy === 'ready' ? (stats.state as string | undefined) ?? null : klippy === 'shutdown' || klippy === 'error' ? 'error' : null;
    const wasActive = this.#prevPrintState === 'printing' || this.#prevPrintState === 'paused';
    // Our uploads are named rwc/<jobId>-<name>: after a server restart the file on the printer still
    // says which queue job it is, so the queue can adopt or count it.
    const ours = parseRemoteName(stats.filename);
    // A short file can run between two status batches (Moonraker pushes every 250 ms): our file
    // then shows up already ended, without `printing` ever being seen.
    const started = this.#activeJob;
    const endedUnseen =
      !wasActive &&
      !!started?.startSent &&
      !!ps &&
      !!ENDED(ps) &&
      stats.filename === started.filename &&
      (ps !== this.#prevPrintState || stats.filename !== this.#prevFilename);
    if ((wasActive && ps && ENDED(ps)) || endedUnseen) {
      const job = this.#activeJob;
      const matches = job && (stats.filename === job.filename || !stats.filename || ps === 'error');
      patch.lastJob = { jobId: matches ? job.jobId : (ours?.jobId ?? null), outcome: ENDED(ps)!, at: this.ctx.clock.now() };
      this.#activeJob = null;
    } else if (this.#prevPrintState === null && ps && ENDED(ps) && ours) {
      // First status after (re)connecting shows one of our jobs already ended (e.g. while the server
      // was down): report it once, with the cooldown counted from now.
      patch.lastJob = { jobId: ours.jobId, outcome: ENDED(ps)!, at: this.ctx.clock.now() };
    }
    if (ps !== null) {
      this.#prevPrintState = ps;
      this.#prevFilename = stats.filename;
    }
    if (ps === 'printing' || ps === 'paused') {
      const job = this.#activeJob?.filename === stats.filename ? this.#activeJob : null;
      patch.job = {
        jobId: job?.jobId ?? ours?.jobId ?? null,
        fileName: ours?.name ?? String(stats.filename ?? ''),
        plate: job?.plate ?? null,
      };
    } else patch.job = null;
    if (full) patch.fullStatus = true;
    this.#set(patch);
    for (const w of [...this.#changeWaiters]) w();
  }

  #waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        done(true);
      };
      const timer = this.ctx.clock.setTimeout(() => done(false), timeoutMs);
      const done = (ok: boolean) => {
        this.ctx.clock.clearTimeout(timer);
        this.#changeWaiters.delete(check);
        resolve(ok);
      };
      this.#changeWaiters.add(check);
    });
  }

  #requireRpc(): RpcSocket {
    if (!this.#rpc) throw new DriverError('not_connected', `printer is ${this.#state.status}`);
    return this.#rpc;
  }

  /** Host and port of the Moonraker URL, for connection issues. */
  #target(): { host: string; port: number } {
    const u = new URL(this.#conn.url);
    return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
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

/** `rwc/123456-part.gcode` → job 123456, shown as `part.gcode`; null for files we did not upload. */
export function parseRemoteName(filename: unknown): { jobId: string; name: string } | null {
  const m = typeof filename === 'string' ? new RegExp(`^${UPLOAD_FOLDER}/(\\d{1,10})-(.+)$`).exec(filename) : null;
  return m ? { jobId: m[1]!, name: m[2]! } : null;
}
