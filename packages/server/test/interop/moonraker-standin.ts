/**
 * A deliberately small, independent Moonraker stand-in written from Moonraker's API docs
 * (docs/octoprint-moonraker-obico.md §3, fixtures/octo/moonraker-examples.json), not from our
 * simulator: JSON-RPC 2.0 on ws /websocket, X-Api-Key checked on the upgrade and on uploads,
 * printer.objects.subscribe returning the full state of the asked objects, then
 * notify_status_update deltas `[ {obj: {changed fields}}, eventtime ]`, multipart
 * POST /server/files/upload answering 201 + Location + `{item, print_started, print_queued, action}`.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

type Objects = Record<string, Record<string, unknown>>;

export interface MoonrakerStandinOptions {
  apiKey: string;
  /** Klippy stays in `startup` this long after start, then `ready` + notify_klippy_ready. */
  startupMs: number;
  /** Progress steps of 10 % this far apart once a print runs. */
  progressStepMs: number;
  /**
   * The whole file runs between two status batches (Moonraker pushes every 250 ms): the first
   * delta after printer.print.start already says `complete`; `printing` is never seen.
   */
  instantComplete?: boolean;
  /** Stop advancing at this progress (a long print), until finishPrint(). */
  holdAt?: number;
  /** print_stats.state for a finished print: Moonraker's `complete`, or `completed` (Anycubic's Klipper). */
  completeState?: string;
}

const clone = <T>(v: T): T => structuredClone(v);

export class MoonrakerStandin {
  readonly files = new Map<string, Buffer>();
  readonly rpcLog: Array<{ method: string; params: unknown }> = [];
  readonly uploads: Array<{ fields: Record<string, string>; filename: string }> = [];
  rejectedUpgrades = 0;
  klippyState = 'startup';
  stateMessage = 'Klipper is starting';
  #objects: Objects = {
    webhooks: { state: 'startup', state_message: 'Klipper is starting' },
    print_stats: { filename: '', total_duration: 0, print_duration: 0, filament_used: 0, state: 'standby', message: '', info: { total_layer: null, current_layer: null } },
    virtual_sdcard: { file_path: null, progress: 0, is_active: false, file_position: 0, file_size: 0 },
    display_status: { progress: 0, message: null },
    extruder: { temperature: 24.5, target: 0, power: 0, pressure_advance: 0.04, smooth_time: 0.04 },
    heater_bed: { temperature: 23.1, target: 0, power: 0 },
    toolhead: { position: [0, 0, 0, 0], status: 'Ready', homed_axes: '' },
    gcode_move: { speed: 1500, speed_factor: 1, extrude_factor: 1, absolute_coordinates: true },
  };
  #subs = new Map<WebSocket, Record<string, string[] | null>>();
  #http = http.createServer((req, res) => void this.#onHttp(req, res));
  #wss = new WebSocketServer({ noServer: true });
  #timers = new Set<NodeJS.Timeout>();
  #started = Date.now();
  #oneshots = new Set<string>();
  upgradesWithToken = 0;

  constructor(readonly opts: MoonrakerStandinOptions) {
    this.#http.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      // A oneshot token (GET /access/oneshot_token) is valid once, for 5 s, as ?token=.
      const token = url.searchParams.get('token');
      const tokenOk = token !== null && this.#oneshots.delete(token);
      if (url.pathname !== '/websocket' || (!tokenOk && req.headers['x-api-key'] !== this.opts.apiKey)) {
        this.rejectedUpgrades++;
        socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      if (tokenOk) this.upgradesWithToken++;
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onSocket(ws));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#http.listen(0, '127.0.0.1', resolve));
    this.#started = Date.now();
    this.#later(this.opts.startupMs, () => {
      this.klippyState = 'ready';
      this.stateMessage = 'Printer is ready';
      this.#change({ webhooks: { state: 'ready', state_message: 'Printer is ready' } });
      this.#broadcast('notify_klippy_ready');
      this.#broadcast('notify_gcode_response', ['// Klipper state: Ready']);
    });
    // Moonraker also pushes notifications a printer client does not ask for; they must be ignored.
    const procStats = () => {
      this.#broadcast('notify_proc_stat_update', [
        { moonraker_stats: { time: Date.now() / 1000, cpu_usage: 2.1, memory: 46000, mem_units: 'kB' }, cpu_temp: 44.3, network: {}, system_cpu_usage: { cpu: 3.2 }, system_memory: { total: 3900000, available: 3000000, used: 900000 }, websocket_connections: this.#wss.clients.size },
      ]);
      this.#later(100, procStats);
    };
    procStats();
    return `http://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    for (const ws of this.#wss.clients) ws.terminate();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  get printState(): string {
    return this.#objects.print_stats.state as string;
  }

  /** Pushes a print_stats.state delta as is (firmware variants with states Moonraker's docs do not list). */
  setPrintState(state: string | null): void {
    this.#change({ print_stats: { state } });
  }

  /** Klipper shuts down (e.g. a heater fault): `notify` sends notify_klippy_shutdown, `webhooks` a status delta. */
  shutdown(message: string, how: 'notify' | 'webhooks'): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.klippyState = 'shutdown';
    this.stateMessage = message;
    if (how === 'webhooks') this.#change({ webhooks: { state: 'shutdown', state_message: message } });
    else {
      this.#objects.webhooks = { state: 'shutdown', state_message: message };
      this.#broadcast('notify_klippy_shutdown');
    }
  }

  finishPrint(): void {
    this.opts.holdAt = undefined;
    this.#advance(1);
  }

  // ---- HTTP ----

  async #onHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.headers['x-api-key'] !== this.opts.apiKey) return json(401, { error: { code: 401, message: 'Unauthorized' } });
    if (req.method === 'GET' && url.pathname === '/server/info') return json(200, { result: this.#serverInfo() });
    if (req.method === 'GET' && url.pathname === '/access/oneshot_token') {
      const token = Array.from({ length: 32 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[Math.floor(Math.random() * 32)]).join('');
      this.#oneshots.add(token);
      this.#later(5000, () => this.#oneshots.delete(token));
      return json(200, { result: token });
    }
    if (req.method !== 'POST' || url.pathname !== '/server/files/upload') return json(404, { error: { code: 404, message: 'Not Found' } });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const parsed = parseMultipart(Buffer.concat(chunks), String(req.headers['content-type'] ?? ''));
    if (!parsed?.file) return json(400, { error: { code: 400, message: 'No file in upload' } });
    const { fields, file } = parsed;
    if ((fields.root ?? 'gcodes') !== 'gcodes') return json(400, { error: { code: 400, message: 'root not allowed' } });
    if (!/\.(gcode|g|gco|ufp|nc)$/i.test(file.filename)) return json(400, { error: { code: 400, message: 'bad extension' } });
    if (fields.checksum && createHash('sha256').update(file.data).digest('hex') !== fields.checksum) {
      return json(422, { error: { code: 422, message: 'File checksum mismatch' } });
    }
    const rel = [fields.path?.replace(/^\/+|\/+$/g, ''), file.filename].filter(Boolean).join('/');
    this.files.set(rel, file.data);
    this.uploads.push({ fields, filename: file.filename });
    const item = { path: rel, root: 'gcodes', modified: Date.now() / 1000, size: file.data.length, permissions: 'rw' };
    // Documented answer: 201, a Location header, and the body as in the docs' example.
    return json(201, { item, print_started: false, print_queued: false, action: 'create_file' }, {
      location: `http://127.0.0.1/server/files/gcodes/${encodeURI(rel)}`,
    });
  }

  // ---- JSON-RPC ----

  #onSocket(ws: WebSocket): void {
    ws.on('close', () => this.#subs.delete(ws));
    ws.on('message', (raw) => {
      let msg: { jsonrpc?: string; method?: string; params?: any; id?: number };
      try {
        msg = JSON.parse(String(raw));
      } catch {
        return ws.send(JSON.stringify({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null }));
      }
      const { method = '', params, id } = msg;
      this.rpcLog.push({ method, params });
      const reply = (result: unknown) => ws.send(JSON.stringify({ jsonrpc: '2.0', result, id }));
      const fail = (code: number, message: string) => ws.send(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id }));
      const needsKlippy = method.startsWith('printer.') && method !== 'printer.info' && method !== 'printer.firmware_restart';
      if (needsKlippy && this.klippyState !== 'ready') return fail(503, `Klippy Host not connected`);
      switch (method) {
        case 'server.connection.identify':
          return reply({ connection_id: 1730 });
        case 'server.info':
          return reply(this.#serverInfo());
        case 'printer.info':
          return reply({ state: this.klippyState, state_message: this.stateMessage, hostname: 'standin', software_version: 'v0.12.0', cpu_info: 'stand-in', klipper_path: '/home/pi/klipper', python_path: '/home/pi/klippy-env/bin/python', log_file: '/tmp/klippy.log', config_file: '/home/pi/printer_data/config/printer.cfg' });
        case 'printer.objects.subscribe':
        case 'printer.objects.query': {
          const asked = (params?.objects ?? {}) as Record<string, string[] | null>;
          if (method === 'printer.objects.subscribe') this.#subs.set(ws, asked);
          return reply({ eventtime: this.#eventtime(), status: this.#pick(asked, this.#objects) });
        }
        case 'printer.print.start': {
          const filename = String(params?.filename ?? '');
          if (!this.files.has(filename)) return fail(400, `File ${filename} does not exist`);
          if (['printing', 'paused'].includes(this.printState)) return fail(400, 'Print is already in progress');
          reply('ok');
          return this.#startPrint(filename);
        }
        case 'printer.print.pause':
        case 'printer.print.resume':
        case 'printer.print.cancel':
        case 'printer.gcode.script':
        case 'printer.firmware_restart':
          return reply('ok');
        default:
          return fail(-32601, 'Method not found');
      }
    });
  }

  #serverInfo() {
    return {
      klippy_connected: true,
      klippy_state: this.klippyState,
      components: ['klippy_connection', 'application', 'websockets', 'file_manager', 'job_state', 'job_queue', 'history'],
      failed_components: [],
      registered_directories: ['config', 'logs', 'gcodes'],
      warnings: [],
      websocket_count: this.#wss.clients.size,
      moonraker_version: 'v0.9.3-standin',
      api_version: [1, 5, 0],
      api_version_string: '1.5.0',
    };
  }

  #startPrint(filename: string): void {
    const size = this.files.get(filename)!.length;
    if (this.opts.instantComplete) {
      this.#later(20, () =>
        this.#change({
          print_stats: { filename, state: this.opts.completeState ?? 'complete', print_duration: 0.2, total_duration: 0.3, message: '' },
          virtual_sdcard: { file_path: `/home/pi/printer_data/gcodes/${filename}`, is_active: false, progress: 1, file_position: size, file_size: size },
          display_status: { progress: 1 },
        }),
      );
      return;
    }
    this.#change({
      print_stats: { filename, state: 'printing', print_duration: 0, total_duration: 0, message: '' },
      virtual_sdcard: { file_path: `/home/pi/printer_data/gcodes/${filename}`, is_active: true, progress: 0, file_position: 0, file_size: size },
      display_status: { progress: 0 },
      extruder: { target: 210 },
    });
    this.#advance(0);
  }

  #advance(progress: number): void {
    if (this.printState !== 'printing' || this.klippyState !== 'ready') return;
    const p = Math.min(1, Math.round(progress * 10) / 10);
    const size = Number(this.#objects.virtual_sdcard.file_size);
    const seconds = p * 60;
    this.#change({
      virtual_sdcard: { progress: p, file_position: Math.floor(size * p) },
      display_status: { progress: p },
      print_stats: { print_duration: seconds, total_duration: seconds + 2, filament_used: p * 120 },
    });
    if (p >= 1) {
      this.#change({ print_stats: { state: this.opts.completeState ?? 'complete' }, virtual_sdcard: { is_active: false }, extruder: { target: 0 } });
      return;
    }
    if (this.opts.holdAt !== undefined && p >= this.opts.holdAt) return;
    this.#later(this.opts.progressStepMs, () => this.#advance(p + 0.1));
  }

  /** Applies a delta and pushes notify_status_update with only changed fields of subscribed objects. */
  #change(delta: Objects): void {
    for (const [name, fields] of Object.entries(delta)) this.#objects[name] = { ...this.#objects[name], ...clone(fields) };
    for (const [ws, asked] of this.#subs) {
      const picked = this.#pick(asked, delta);
      if (Object.keys(picked).length && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notify_status_update', params: [picked, this.#eventtime()] }));
      }
    }
  }

  #pick(asked: Record<string, string[] | null>, from: Objects): Objects {
    const out: Objects = {};
    for (const [name, fields] of Object.entries(asked)) {
      const obj = from[name];
      if (!obj) continue;
      const chosen = fields === null ? clone(obj) : Object.fromEntries(Object.entries(obj).filter(([k]) => fields.includes(k)));
      if (Object.keys(chosen).length) out[name] = chosen;
    }
    return out;
  }

  #broadcast(method: string, params?: unknown[]): void {
    const text = JSON.stringify({ jsonrpc: '2.0', method, ...(params ? { params } : {}) });
    for (const ws of this.#wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  }

  #eventtime(): number {
    return 578243.578 + (Date.now() - this.#started) / 1000;
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }
}

/** Minimal multipart/form-data reader: text fields plus one `file` part. */
function parseMultipart(body: Buffer, contentType: string) {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) return null;
  const delim = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const fields: Record<string, string> = {};
  let file: { filename: string; data: Buffer } | null = null;
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    const start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // skip CRLF after the delimiter and before the next
    const sep = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, sep).toString('utf8');
    const data = part.subarray(sep + 4);
    const name = /name="([^"]*)"/.exec(head)?.[1];
    const filename = /filename="([^"]*)"/.exec(head)?.[1];
    if (filename !== undefined && name === 'file') file = { filename, data: Buffer.from(data) };
    else if (name) fields[name] = data.toString('utf8');
    pos = next;
  }
  return { fields, file };
}
