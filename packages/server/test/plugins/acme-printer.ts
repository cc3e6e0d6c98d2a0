/**
 * A stand-in printer with a small HTTP protocol of its own ("Acme"), for the plugin printer driver
 * test: upload a file, start it, poll status, pause/resume/cancel. It prints on its own clock, so a
 * driver that goes away mid-print finds the job still running when it comes back.
 *
 * GET /status → {state: idle|printing|paused|done|error, jobId, file, progress, remaining, tempNozzle, tempBed}
 * PUT /files/:name (raw body) → {size, md5}
 * POST /print {file, jobId} → 409 unless idle/done; POST /pause | /resume | /cancel
 * Every request needs `Authorization: Bearer <token>`.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export class AcmePrinter {
  state: 'idle' | 'printing' | 'paused' | 'done' | 'error' = 'idle';
  jobId: string | null = null;
  file: string | null = null;
  progress = 0;
  files = new Map<string, Buffer>();
  prints: string[] = [];
  #server = http.createServer((req, res) => void this.#handle(req, res));
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: { token: string; printSeconds: number }) {}

  async start(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.#timer = setInterval(() => this.#tick(), 100);
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }

  #tick(): void {
    if (this.state !== 'printing') return;
    this.progress = Math.min(100, this.progress + 100 / (this.o.printSeconds * 10));
    if (this.progress >= 100) this.state = 'done';
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.o.token}`) return send(401, { error: 'bad token' });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = req.url ?? '';
    if (req.method === 'GET' && url === '/status') {
      return send(200, {
        state: this.state,
        jobId: this.jobId,
        file: this.file,
        progress: Math.round(this.progress * 10) / 10,
        remaining: Math.round(((100 - this.progress) / 100) * this.o.printSeconds),
        tempNozzle: this.state === 'printing' ? 210 : 25,
        tempBed: this.state === 'printing' ? 60 : 25,
      });
    }
    if (req.method === 'PUT' && url.startsWith('/files/')) {
      const name = decodeURIComponent(url.slice(7));
      this.files.set(name, body);
      return send(200, { size: body.length, md5: crypto.createHash('md5').update(body).digest('hex') });
    }
    if (req.method === 'POST' && url === '/print') {
      const { file, jobId } = JSON.parse(body.toString('utf8')) as { file: string; jobId: string };
      if (this.state !== 'idle' && this.state !== 'done') return send(409, { error: `busy (${this.state})` });
      if (!this.files.has(file)) return send(404, { error: 'no such file' });
      Object.assign(this, { state: 'printing', jobId, file, progress: 0 });
      this.prints.push(jobId);
      return send(200, { ok: true });
    }
    const moves: Record<string, [string[], AcmePrinter['state']]> = {
      '/pause': [['printing'], 'paused'],
      '/resume': [['paused'], 'printing'],
      '/cancel': [['printing', 'paused'], 'idle'],
    };
    const move = req.method === 'POST' ? moves[url] : undefined;
    if (move) {
      if (!move[0].includes(this.state)) return send(409, { error: `cannot from ${this.state}` });
      this.state = move[1];
      return send(200, { ok: true });
    }
    send(404, { error: 'no route' });
  }
}
