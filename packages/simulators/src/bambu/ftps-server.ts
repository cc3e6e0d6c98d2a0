/**
 * The printer's storage over implicit FTPS (ftp-srv): `ftps://host:990`, user `bblp` + access
 * code, files land in a per-printer temp dir (the simulated SD card root), PASV on the same host
 * with OS-picked ports. Modes reproduce A1 quirks (bambu-protocol.md §1.11, pitfall 22):
 * - `slow`: the data channel is throttled (real A1 over Wi-Fi: ~75 KB/s);
 * - `hang`: the file is written completely but `226` never comes while the data channel is TLS;
 *   after `PROT C` (clear data channel, control still TLS) uploads complete normally.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import ftpSrvPkg from 'ftp-srv';

const { FtpSrv, FileSystem } = ftpSrvPkg as unknown as {
  FtpSrv: typeof import('ftp-srv').FtpSrv;
  FileSystem: typeof import('ftp-srv').FileSystem;
};

export type FtpsMode = 'normal' | 'slow' | 'hang';

export interface FtpsOptions {
  host: string;
  port: number;
  accessCode: string;
  root: string;
  key: string;
  cert: string;
  /**
   * Like vsFTPd's `require_ssl_reuse`: a TLS data connection that does not resume the control
   * session gets `522 SSL connection failed: session reuse required` (§1.11). Default true.
   */
  requireSessionReuse?: boolean;
  /** Throughput of the data channel in `slow` mode, bytes per real second. Default 64 KiB/s. */
  slowBytesPerSecond?: number;
}

const noop = () => {};
/** A bunyan-compatible logger that drops everything (ftp-srv logs JSON to stdout otherwise). */
const silentLog: any = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
  child: () => silentLog,
};

/** Wraps ftp-srv's file stream to throttle or stall the end of an upload. */
class StorageWriteStream extends Writable {
  readonly path: string;
  readonly #inner: NodeJS.WritableStream & { path?: string | Buffer };
  readonly #bytesPerSecond: number;
  readonly #hang: boolean;

  constructor(inner: any, opts: { bytesPerSecond: number; hang: boolean }) {
    super();
    this.#inner = inner;
    this.path = String(inner.path ?? '');
    this.#bytesPerSecond = opts.bytesPerSecond;
    this.#hang = opts.hang;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#inner.write(chunk, (err) => {
      if (err || this.#bytesPerSecond <= 0) return cb(err);
      setTimeout(cb, (chunk.length / this.#bytesPerSecond) * 1000).unref();
    });
  }

  override _final(cb: (e?: Error | null) => void): void {
    // The bytes reach storage either way (a SIZE check sees them); in hang mode 226 never comes.
    this.#inner.end(() => {
      if (!this.#hang) cb();
    });
  }
}

/**
 * Whether a FAT file system can hold this name: no `\ : * ? " < > |` or control characters in the
 * last path part, no trailing dot or space, at most 255 characters (folders are separated by `/`).
 */
export function fatSafe(path: unknown): boolean {
  const name = String(path ?? '').split('/').pop() ?? '';
  return name.length > 0 && name.length <= 255 && !/[\\:*?"<>|\u0000-\u001f\u007f]/.test(name) && !/[ .]$/.test(name);
}

const DATA_COMMANDS = new Set(['STOR', 'APPE', 'RETR', 'LIST', 'NLST', 'MLSD', 'STOU']);

export class PrinterFtps {
  mode: FtpsMode = 'normal';
  #server: InstanceType<typeof FtpSrv> | null = null;
  readonly #opts: FtpsOptions;

  constructor(opts: FtpsOptions) {
    this.#opts = opts;
  }

  async start(): Promise<number> {
    const o = this.#opts;
    const before = new Map(['SIGTERM', 'SIGINT', 'SIGQUIT'].map((s) => [s, process.listeners(s as NodeJS.Signals)]));
    const server = new FtpSrv({
      url: `ftps://${o.host}:${o.port}`,
      // ftp-srv makes a new TLS server per PASV; shared ticket keys let the data channel resume
      // the control channel's session, which vsFTPd on the printers insists on.
      tls: {
        key: o.key,
        cert: o.cert,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        ticketKeys: randomBytes(48),
      } as any,
      pasv_url: o.host,
      // 0..0: every passive listener binds port 0, i.e. an OS-chosen free port on `host`.
      pasv_min: 0,
      pasv_max: 0,
      anonymous: false,
      greeting: ['(vsFTPd 3.0.3)'],
      log: silentLog,
    });
    // ftp-srv installs process signal handlers per instance; a fleet would leak dozens of them.
    for (const [sig, had] of before) {
      for (const l of process.listeners(sig as NodeJS.Signals)) {
        if (!had.includes(l)) process.removeListener(sig, l);
      }
    }
    server.on('login', ({ connection, username, password }: any, resolve: any, reject: any) => {
      if (username !== 'bblp' || password !== o.accessCode) return reject(new Error('Login incorrect.'));
      resolve({ fs: this.#fileSystem(connection), root: o.root, cwd: '/' });
    });
    const events = server as unknown as NodeJS.EventEmitter;
    events.on('connect', ({ connection }: any) => {
      // ftp-srv writes a multi-line reply (greeting, FEAT) one line per write; with Nagle on, each
      // later line waits for the client's delayed ACK (~40 ms on Linux), which vsFTPd never costs.
      connection.commandSocket?.setNoDelay?.(true);
      this.#allowProtC(connection);
    });
    events.on('client-error', noop);
    events.on('server-error', noop);
    this.#server = server;
    await server.listen();
    return (server as any).server.address().port as number;
  }

  /** ftp-srv only knows PROT P; real A1 firmware also takes PROT C (clear data channel). */
  #allowProtC(connection: any): void {
    let clearData = false;
    Object.defineProperty(connection, 'secure', { configurable: true, get: () => !clearData, set: noop });
    const commands = connection.commands;
    const original = commands.handle.bind(commands);
    commands.handle = async (raw: any) => {
      const cmd = typeof raw === 'string' ? commands.parse(raw) : raw;
      if (DATA_COMMANDS.has(cmd.directive) && connection.authenticated && !(await this.#dataSessionOk(connection))) {
        connection.connector?.end?.();
        return connection.reply(522, 'SSL connection failed: session reuse required');
      }
      if ((cmd.directive === 'STOR' || cmd.directive === 'APPE') && connection.authenticated && !fatSafe(cmd.arg)) {
        // The storage is a FAT SD card: vsFTPd cannot create the file (case bambu-file-name-chars).
        connection.connector?.end?.();
        return connection.reply(553, 'Could not create file.');
      }
      if (cmd.directive === 'PROT' && connection.authenticated) {
        const level = String(cmd.arg ?? '').toUpperCase();
        if (level === 'C' || level === 'P') {
          clearData = level === 'C';
          return connection.reply(200, `PROT now ${level === 'C' ? 'Clear' : 'Private'}.`);
        }
      }
      return original(cmd);
    };
    connection.protectedData = () => !clearData;
  }

  /** False when a TLS data connection came up without resuming the control session. */
  async #dataSessionOk(connection: any): Promise<boolean> {
    const connector = connection.connector;
    if (this.#opts.requireSessionReuse === false || !connection.protectedData() || connector?.type !== 'passive') {
      return true;
    }
    try {
      const socket = await connector.waitForConnection();
      return typeof socket.isSessionReused !== 'function' || socket.isSessionReused();
    } catch {
      return true; // no data connection: let ftp-srv answer as usual
    }
  }

  #fileSystem(connection: any): InstanceType<typeof FileSystem> {
    const fs = new FileSystem(connection, { root: this.#opts.root, cwd: '/' });
    const write = fs.write.bind(fs);
    fs.write = (fileName: string, opts?: any) => {
      const { stream, clientPath } = write(fileName, opts);
      const slow = this.mode === 'slow';
      const hang = this.mode === 'hang' && connection.protectedData();
      if (!slow && !hang) return { stream, clientPath };
      const bytesPerSecond = slow ? (this.#opts.slowBytesPerSecond ?? 64 * 1024) : 0;
      return { stream: new StorageWriteStream(stream, { bytesPerSecond, hang }), clientPath };
    };
    return fs;
  }

  /** Closes the control server and every client connection. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    for (const c of Object.values((server as any).connections ?? {}) as any[]) {
      // Destroy rather than end: a stalled ("hang" mode) data channel would never finish ending.
      c.connector?.dataSocket?.destroy();
      c.connector?.dataServer?.close();
      c.commandSocket?.destroy();
    }
    await new Promise<void>((r) => (server as any).server.close(() => r()));
  }
}
