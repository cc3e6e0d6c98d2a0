/**
 * Local stand-ins for where notifications go, over real loopback sockets: one HTTP server that
 * answers like a webhook receiver, an ntfy server (JSON publish and PUT with attachment) and the
 * Telegram Bot API (sendMessage, sendPhoto multipart), and an SMTP server (smtp-server) with
 * password auth that keeps every mail.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json?: any;
  form?: Map<string, string | Buffer>;
}

export class HttpStandIn {
  received: Received[] = [];
  /** Status the webhook path answers (to test failures). */
  webhookStatus = 200;
  #server = http.createServer((req, res) => void this.#handle(req, res));
  url = '';

  constructor(readonly telegramToken: string) {}

  async start(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }

  on(path: string | RegExp): Received[] {
    return this.received.filter((r) => (typeof path === 'string' ? r.path === path : path.test(r.path)));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const rec: Received = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, headers: req.headers, body };
    const type = String(req.headers['content-type'] ?? '');
    if (type.includes('application/json')) rec.json = JSON.parse(body.toString('utf8'));
    if (type.includes('multipart/form-data')) {
      const fd = await new Response(body, { headers: { 'content-type': type } }).formData();
      rec.form = new Map();
      for (const [k, v] of fd.entries()) rec.form.set(k, typeof v === 'string' ? v : Buffer.from(await v.arrayBuffer()));
    }
    this.received.push(rec);
    const json = (status: number, b: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(b));
    };
    if (rec.path === '/hook') return json(this.webhookStatus, { ok: this.webhookStatus < 300 });
    const tg = /^\/bot([^/]+)\/(sendMessage|sendPhoto)$/.exec(rec.path);
    if (tg) {
      if (tg[1] !== this.telegramToken) return json(401, { ok: false, error_code: 401, description: 'Unauthorized' });
      return json(200, { ok: true, result: { message_id: this.received.length } });
    }
    // ntfy: POST / (JSON) or PUT|POST /<topic>
    return json(200, { id: String(this.received.length), event: 'message' });
  }
}

export interface Mail {
  from: string;
  to: string[];
  user: string | null;
  raw: string;
}

export class SmtpStandIn {
  mails: Mail[] = [];
  port = 0;
  #server: SMTPServer;

  constructor(readonly user: string, readonly pass: string) {
    this.#server = new SMTPServer({
      // Plain SMTP on loopback: STARTTLS off, so AUTH must be allowed without TLS.
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      logger: false,
      onAuth: (auth, _session, cb) => {
        if (auth.username === this.user && auth.password === this.pass) cb(null, { user: auth.username });
        else cb(new Error('Invalid username or password'));
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          this.mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            user: (session.user as string | undefined) ?? null,
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          cb();
        });
      },
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.#server.server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
