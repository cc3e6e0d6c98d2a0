import crypto from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { Klippy, type Objects } from './klippy.ts';
import { SceneCamera, type SceneState, SpaghettiFault } from '../camera/print-scene.ts';
import { parseMultipart } from './multipart.ts';

export { Klippy } from './klippy.ts';

export interface MoonrakerSimulatorOptions {
  /** When set, HTTP needs X-Api-Key and the websocket needs the key or a oneshot token. */
  apiKey?: string;
  /** Real seconds per simulated second (0.1 = 10× faster). Default 1. */
  timeScale?: number;
  /** Simulated length of every print. Default 10 s. */
  printSeconds?: number;
  port?: number;
  /** Announce a webcam (server.webcams.list) served at /webcam/ (snapshot and MJPEG stream). Default true. */
  webcam?: boolean;
  /** print_stats.state of a finished print: `complete` (Moonraker, default) or `completed` (Anycubic's Klipper). */
  completeState?: string;
}

type Client = { ws: WebSocket; subscription: Record<string, string[] | null> | null };
type RpcError = { code: number; message: string };

const TICK_MS = 50;
const ONESHOT_TTL_MS = 5000;

/** Moonraker (Klipper's API server) over HTTP + JSON-RPC 2.0 WebSocket, with fault injection. */
export class MoonrakerSimulator {
  readonly klippy: Klippy;
  readonly files = new Map<string, Buffer>();
  /** Every JSON-RPC method called, in order (tests look at it). */
  readonly calls: string[] = [];
  connectionsAccepted = 0;
  /** Fault: printer.print.start answers "ok" but nothing starts. */
  ignorePrintStart = false;
  #opts: Required<Omit<MoonrakerSimulatorOptions, 'apiKey'>> & { apiKey: string | null };
  readonly #scene = new SceneCamera(() => Buffer.alloc(0));
  readonly #spaghetti = new SpaghettiFault();
  #simSeconds = 0;
  #server: http.Server | null = null;
  #wss = new WebSocketServer({ noServer: true });
  #clients = new Set<Client>();
  #tokens = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #port = 0;

  constructor(opts: MoonrakerSimulatorOptions = {}) {
    this.#opts = {
      apiKey: opts.apiKey ?? null,
      timeScale: opts.timeScale ?? 1,
      printSeconds: opts.printSeconds ?? 10,
      port: opts.port ?? 0,
      webcam: opts.webcam ?? true,
      completeState: opts.completeState ?? 'complete',
    };
    this.klippy = new Klippy(this.#opts.printSeconds, 10, this.#opts.completeState);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  async start(): Promise<void> {
    this.#server = http.createServer((req, res) => void this.#http(req, res));
    this.#server.on('upgrade', (req, socket, head) => this.#upgrade(req, socket as net.Socket, head));
    await new Promise<void>((resolve) => this.#server!.listen(this.#opts.port, '127.0.0.1', () => resolve()));
    this.#port = (this.#server.address() as net.AddressInfo).port;
    let last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      const scale = this.#opts.timeScale > 0 ? this.#opts.timeScale : 1e-6;
      this.klippy.tick((now - last) / 1000 / scale);
      this.#simSeconds += (now - last) / 1000 / scale;
      last = now;
      this.#flush();
    }, TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const c of this.#clients) c.ws.terminate();
    this.#clients.clear();
    this.#server?.closeAllConnections();
    if (this.#server) await new Promise<void>((r) => this.#server!.close(() => r()));
    this.#server = null;
  }

  // ---- fault injection ----
  /** Klippy shuts down (thermal runaway, MCU lost...): webhooks.state shutdown, a running print errors. */
  shutdown(message = 'Heater extruder not heating at expected rate'): void {
    this.klippy.shutdown(message);
    this.#flush();
    this.#notify('notify_klippy_shutdown', []);
  }
  /** Klipper goes away and comes back as `startup` (host restart); call klippyReady() to finish. */
  klippyStartup(): void {
    this.klippy.set('webhooks', { state: 'startup', state_message: 'Printer is not ready' });
    this.#flush();
    this.#notify('notify_klippy_disconnected', []);
  }
  klippyReady(): void {
    this.klippy.restart();
    this.#flush();
    this.#notify('notify_klippy_ready', []);
  }
  /** Terminates every websocket (network blip, Moonraker restart). */
  dropConnections(): void {
    for (const c of this.#clients) c.ws.terminate();
    this.#clients.clear();
  }
  /** The running print fails (e.g. `Move out of range`); Klipper stays ready. */
  failPrint(message = 'Move out of range: 500.000 0.000 0.200 [0.000]'): void {
    this.klippy.endPrint('error', message);
    this.#flush();
  }
  /** Sets print_stats.state to any value (firmware variants; `null` removes it) and pushes the delta. */
  setPrintState(state: string | null): void {
    this.klippy.set('print_stats', { state });
    this.#flush();
  }
  /** Ends the running print at once. */
  finishPrint(): void {
    this.klippy.tick(this.#opts.printSeconds * 2);
    this.#flush();
  }

  /** Fault: the print turns into spaghetti on the webcam (see SpaghettiFault); cleared by the next print. */
  startSpaghetti(): void {
    this.#spaghetti.start(this.#simSeconds);
  }

  stopSpaghetti(): void {
    this.#spaghetti.clear();
  }

  /** The webcam picture of the current print. */
  async webcamJpeg(): Promise<Buffer> {
    const ps = this.klippy.printState;
    const states: Record<string, SceneState> = { standby: 'idle', printing: 'printing', paused: 'paused', complete: 'finished', error: 'failed', cancelled: 'idle' };
    const input = {
      state: states[ps] ?? 'idle',
      progress: Number(this.klippy.objects.virtual_sdcard?.progress ?? 0) * 100,
      spaghetti: this.#spaghetti.amount(this.#simSeconds),
      filament: '#e8731a',
      seed: this.#port,
    };
    await this.#scene.update(input);
    return this.#scene.frame(input);
  }

  #webcam(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const action = url.searchParams.get('action') ?? 'snapshot';
    if (action === 'snapshot') {
      void this.webcamJpeg().then((jpeg) => {
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length, 'cache-control': 'no-store' });
        res.end(jpeg);
      });
      return;
    }
    // mjpg-streamer's stream: one JPEG part per second until the client goes away.
    const boundary = 'boundarydonotcross';
    res.writeHead(200, { 'content-type': `multipart/x-mixed-replace;boundary=${boundary}`, 'cache-control': 'no-store' });
    const send = () =>
      void this.webcamJpeg().then((jpeg) => {
        if (res.destroyed) return;
        res.write(`--${boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
        res.write(jpeg);
        res.write('\r\n');
      });
    send();
    const timer = setInterval(send, 1000);
    req.on('close', () => clearInterval(timer));
  }

  // ---- HTTP ----

  #authorized(req: http.IncomingMessage, url: URL): boolean {
    if (!this.#opts.apiKey) return true;
    if (req.headers['x-api-key'] === this.#opts.apiKey) return true;
    const token = url.searchParams.get('token');
    if (token && this.#tokens.has(token)) {
      const expires = this.#tokens.get(token)!;
      this.#tokens.delete(token); // single use
      return expires > Date.now();
    }
    return false;
  }

  async #http(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    // The webcam is served beside Moonraker (nginx → crowsnest/mjpg-streamer), without its auth.
    if (this.#opts.webcam && req.method === 'GET' && url.pathname === '/webcam/') return this.#webcam(req, res, url);
    if (!this.#authorized(req, url)) return send(401, { error: { code: 401, message: 'Unauthorized' } });
    if (req.method === 'GET' && url.pathname === '/access/oneshot_token') {
      const token = crypto.randomBytes(20).toString('hex').toUpperCase().slice(0, 32);
      this.#tokens.set(token, Date.now() + ONESHOT_TTL_MS);
      return send(200, { result: token });
    }
    if (req.method === 'GET' && url.pathname === '/server/info') return send(200, { result: this.#serverInfo() });
    if (req.method === 'POST' && url.pathname === '/server/files/upload') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      try {
        return this.#upload(Buffer.concat(chunks), req.headers['content-type'] ?? '', send, res);
      } catch (err) {
        return send(400, { error: { code: 400, message: (err as Error).message } });
      }
    }
    send(404, { error: { code: 404, message: 'Not Found' } });
  }

  #upload(body: Buffer, contentType: string, send: (s: number, b: unknown) => void, res: http.ServerResponse) {
    const parts = parseMultipart(body, contentType);
    const file = parts.find((p) => p.name === 'file' && p.filename);
    if (!file) return send(400, { error: { code: 400, message: 'No file in upload' } });
    const field = (name: string) => parts.find((p) => p.name === name)?.data.toString('utf8');
    const root = field('root') ?? 'gcodes';
    if (root !== 'gcodes') return send(400, { error: { code: 400, message: `root ${root} not supported` } });
    const checksum = field('checksum');
    if (checksum && crypto.createHash('sha256').update(file.data).digest('hex') !== checksum.toLowerCase()) {
      return send(422, { error: { code: 422, message: 'File checksum mismatch' } });
    }
    if (!/\.(gcode|g|gco|ufp|nc)$/i.test(file.filename!)) {
      return send(400, { error: { code: 400, message: 'Invalid file extension' } });
    }
    const dir = (field('path') ?? '').replace(/^\/+|\/+$/g, '');
    const path = dir ? `${dir}/${file.filename}` : file.filename!;
    this.files.set(path, file.data);
    const printNow = field('print') === 'true' && this.klippy.printState !== 'printing';
    if (printNow) {
      this.#spaghetti.clear();
      this.klippy.startPrint(path, file.data.length);
    }
    this.#notify('notify_filelist_changed', [{ action: 'create_file', item: { path, root, size: file.data.length } }]);
    res.setHeader('location', `/server/files/gcodes/${encodeURI(path)}`);
    send(201, {
      result: {
        item: { path, root, modified: Date.now() / 1000, size: file.data.length, permissions: 'rw' },
        print_started: printNow,
        print_queued: false,
        action: 'create_file',
      },
    });
  }

  // ---- WebSocket / JSON-RPC ----

  #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/websocket' || !this.#authorized(req, url)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const client: Client = { ws, subscription: null };
      this.#clients.add(client);
      this.connectionsAccepted++;
      ws.on('message', (data) => this.#onMessage(client, data.toString()));
      ws.on('close', () => this.#clients.delete(client));
      ws.on('error', () => {});
    });
  }

  #onMessage(client: Client, text: string): void {
    let msg: { id?: number; method?: string; params?: Record<string, unknown> };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const reply = (body: { result?: unknown; error?: RpcError }) =>
      msg.id !== undefined && client.ws.send(JSON.stringify({ jsonrpc: '2.0', ...body, id: msg.id }));
    try {
      this.calls.push(msg.method ?? '');
      reply({ result: this.#dispatch(client, msg.method ?? '', msg.params ?? {}) });
    } catch (err) {
      const e = err as Error & { code?: number };
      reply({ error: { code: e.code ?? 400, message: e.message } });
    }
  }

  #dispatch(client: Client, method: string, params: Record<string, unknown>): unknown {
    const k = this.klippy;
    const fail = (code: number, message: string) => Object.assign(new Error(message), { code });
    const needReady = () => {
      if (k.state !== 'ready') throw fail(503, `Klippy Host not ready (${k.state})`);
    };
    switch (method) {
      case 'server.connection.identify':
        return { connection_id: this.connectionsAccepted };
      case 'server.info':
        return this.#serverInfo();
      case 'printer.info':
        return { state: k.state, state_message: k.objects.webhooks.state_message, hostname: 'sim', software_version: 'v0.12.0-sim' };
      case 'printer.objects.list':
        return { objects: Object.keys(k.objects) };
      case 'printer.objects.query':
        return { eventtime: performance.now() / 1000, status: this.#select((params.objects ?? {}) as Client['subscription']) };
      case 'printer.objects.subscribe':
        client.subscription = (params.objects ?? {}) as Client['subscription'];
        return { eventtime: performance.now() / 1000, status: this.#select(client.subscription) };
      case 'printer.print.start': {
        needReady();
        const filename = String(params.filename ?? '');
        if (!this.files.has(filename)) throw fail(400, `File not found: ${filename}`);
        if (k.printState === 'printing' || k.printState === 'paused') throw fail(400, 'Print already in progress');
        if (!this.ignorePrintStart) {
          this.#spaghetti.clear();
          k.startPrint(filename, this.files.get(filename)!.length);
        }
        return 'ok';
      }
      case 'printer.print.pause':
        needReady();
        if (k.printState === 'printing') k.pause();
        return 'ok';
      case 'printer.print.resume':
        needReady();
        if (k.printState === 'paused') k.resume();
        return 'ok';
      case 'printer.print.cancel':
        needReady();
        if (k.printState === 'printing' || k.printState === 'paused') k.endPrint('cancelled');
        return 'ok';
      case 'printer.gcode.script':
        needReady();
        this.#gcode(String(params.script ?? ''));
        return 'ok';
      case 'printer.emergency_stop':
        this.shutdown('Shutdown due to M112 command');
        return 'ok';
      case 'printer.restart':
      case 'printer.firmware_restart':
        k.restart();
        this.#notify('notify_klippy_ready', []);
        return 'ok';
      case 'server.webcams.list':
        return {
          webcams: this.#opts.webcam
            ? [
                {
                  name: 'printer-cam',
                  location: 'printer',
                  service: 'mjpegstreamer-adaptive',
                  enabled: true,
                  target_fps: 15,
                  stream_url: '/webcam/?action=stream',
                  snapshot_url: '/webcam/?action=snapshot',
                  flip_horizontal: false,
                  flip_vertical: false,
                  rotation: 0,
                  aspect_ratio: '16:9',
                  source: 'config',
                },
              ]
            : [],
        };
      case 'server.files.list':
        return [...this.files].map(([path, data]) => ({ path, size: data.length, modified: 0, permissions: 'rw' }));
      default:
        throw fail(-32601, `Method not found: ${method}`);
    }
  }

  /** Every G-code line received through printer.gcode.script (tests read it). */
  readonly gcodeLog: string[] = [];

  #gcode(script: string): void {
    for (const line of script.split('\n')) {
      const [word, ...rest] = line.trim().split(/\s+/);
      if (!word) continue;
      this.gcodeLog.push(line.trim());
      const s = Number(rest.find((r) => r.toUpperCase().startsWith('S'))?.slice(1));
      // Klipper answers on the gcode response stream (notify_gcode_response), as the real host does.
      const ex = this.klippy.objects.extruder as { temperature: number; target: number };
      const bed = this.klippy.objects.heater_bed as { temperature: number; target: number };
      if (/^M105$/i.test(word)) this.#notify('notify_gcode_response', [`ok T:${ex.temperature.toFixed(1)} /${ex.target.toFixed(1)} B:${bed.temperature.toFixed(1)} /${bed.target.toFixed(1)}`]);
      else if (/^M106$/i.test(word)) this.klippy.set('fan', { speed: Math.max(0, Math.min(1, (Number.isFinite(s) ? s : 255) / 255)) });
      else if (/^M107$/i.test(word)) this.klippy.set('fan', { speed: 0 });
      else if (!/^(M10[49]|M1(40|90)|SDCARD_RESET_FILE|M112|G\d+)$/i.test(word)) this.#notify('notify_gcode_response', [`!! Unknown command:"${word.toUpperCase()}"`]);
      if (/^M10[49]$/i.test(word) && Number.isFinite(s)) this.klippy.set('extruder', { target: s });
      if (/^M1(40|90)$/i.test(word) && Number.isFinite(s)) this.klippy.set('heater_bed', { target: s });
      if (/^SDCARD_RESET_FILE$/i.test(word)) this.klippy.resetFile();
      if (/^M112$/i.test(word)) this.shutdown('Shutdown due to M112 command');
    }
  }

  #serverInfo() {
    return {
      klippy_connected: true,
      klippy_state: this.klippy.state,
      components: ['file_manager', 'job_queue', 'authorization', 'webcam'],
      failed_components: [],
      warnings: [],
      moonraker_version: 'v0.9.3-sim',
      api_version: [1, 5, 0],
    };
  }

  #select(sub: Client['subscription']): Objects {
    const out: Objects = {};
    for (const [name, fields] of Object.entries(sub ?? {})) {
      const obj = this.klippy.objects[name];
      if (!obj) continue;
      out[name] = fields ? Object.fromEntries(fields.filter((f) => f in obj).map((f) => [f, obj[f]])) : structuredClone(obj);
    }
    return out;
  }

  #flush(): void {
    const delta = this.klippy.takeDelta();
    if (Object.keys(delta).length === 0) return;
    const eventtime = performance.now() / 1000;
    for (const c of this.#clients) {
      if (!c.subscription) continue;
      const filtered: Objects = {};
      for (const [name, fields] of Object.entries(c.subscription)) {
        const d = delta[name];
        if (!d) continue;
        const picked = fields ? Object.fromEntries(Object.entries(d).filter(([f]) => fields.includes(f))) : d;
        if (Object.keys(picked).length) filtered[name] = picked;
      }
      if (Object.keys(filtered).length) {
        c.ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notify_status_update', params: [filtered, eventtime] }));
      }
    }
  }

  #notify(method: string, params: unknown[]): void {
    const msg = JSON.stringify({ jsonrpc: '2.0', method, params });
    for (const c of this.#clients) c.ws.send(msg);
  }
}
