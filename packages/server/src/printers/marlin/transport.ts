import net from 'node:net';

/**
 * A byte pipe to a Marlin board, split into lines. The same interface covers a USB serial port
 * (serialport 13) and a `tcp://host:port` serial-over-network bridge (net.Socket).
 */
export interface LineTransport {
  open(): Promise<void>;
  write(line: string): void;
  close(): Promise<void>;
  onLine(fn: (line: string) => void): void;
  onClose(fn: (err?: Error) => void): void;
}

export type SerialTarget = { kind: 'tcp'; host: string; port: number } | { kind: 'serial'; path: string; baudRate: number };

abstract class LineSplitter implements LineTransport {
  #buf = '';
  #lineFn: (line: string) => void = () => {};
  #closeFn: (err?: Error) => void = () => {};
  #closed = false;

  abstract open(): Promise<void>;
  abstract write(line: string): void;
  abstract close(): Promise<void>;

  onLine(fn: (line: string) => void): void {
    this.#lineFn = fn;
  }

  onClose(fn: (err?: Error) => void): void {
    this.#closeFn = fn;
  }

  protected feed(data: string): void {
    this.#buf += data;
    for (;;) {
      const nl = this.#buf.search(/[\r\n]/);
      if (nl < 0) break;
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      if (line.length) this.#lineFn(line);
    }
    // A board spewing garbage without newlines must not grow memory without bound.
    if (this.#buf.length > 4096) this.#buf = '';
  }

  protected closed(err?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeFn(err);
  }
}

export class TcpLineTransport extends LineSplitter {
  #socket: net.Socket | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    super();
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      socket.setNoDelay(true);
      socket.setEncoding('latin1');
      const fail = (err: Error) => reject(err);
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.off('error', fail);
        this.#socket = socket;
        socket.on('data', (d: string) => this.feed(d));
        socket.on('error', (err) => this.closed(err));
        socket.on('close', () => this.closed());
        resolve();
      });
    });
  }

  write(line: string): void {
    this.#socket?.write(`${line}\n`, 'latin1');
  }

  async close(): Promise<void> {
    const s = this.#socket;
    this.#socket = null;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }
}

export class SerialLineTransport extends LineSplitter {
  #port: import('serialport').SerialPort | null = null;

  constructor(
    private readonly path: string,
    private readonly baudRate: number,
  ) {
    super();
  }

  async open(): Promise<void> {
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.#port = port;
    port.on('data', (buf: Buffer) => this.feed(buf.toString('latin1')));
    port.on('error', (err: Error) => this.closed(err));
    port.on('close', () => this.closed());
  }

  write(line: string): void {
    this.#port?.write(Buffer.from(`${line}\n`, 'latin1'));
  }

  async close(): Promise<void> {
    const p = this.#port;
    this.#port = null;
    if (!p?.isOpen) return;
    await new Promise<void>((resolve) => p.close(() => resolve()));
  }
}

export function createTransport(target: SerialTarget): LineTransport {
  return target.kind === 'tcp'
    ? new TcpLineTransport(target.host, target.port)
    : new SerialLineTransport(target.path, target.baudRate);
}
