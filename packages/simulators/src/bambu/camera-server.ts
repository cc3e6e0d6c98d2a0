/**
 * The A1/P1 camera stream (bambu-protocol.md §1.12): TLS on :6000, the client sends one 80-byte
 * auth packet (LE u32 0x40, u32 0x3000, u32 0, u32 0, 32-byte "bblp", 32-byte access code, both
 * NUL-padded); the printer then streams JPEG frames, each behind a 16-byte header
 * (u32 LE payload size, u32 0 itrack, u32 1 flags, u32 0). A wrong code gets zero bytes back.
 */
import type { Socket } from 'node:net';
import tls from 'node:tls';

export const CAMERA_AUTH_PACKET_SIZE = 80;

export function buildCameraAuthPacket(username: string, accessCode: string): Buffer {
  const b = Buffer.alloc(CAMERA_AUTH_PACKET_SIZE);
  b.writeUInt32LE(0x40, 0);
  b.writeUInt32LE(0x3000, 4);
  b.writeUInt32LE(0, 8);
  b.writeUInt32LE(0, 12);
  b.write(username, 16, 32, 'ascii');
  b.write(accessCode, 48, 32, 'ascii');
  return b;
}

export function parseCameraAuthPacket(b: Buffer): { username: string; accessCode: string } | null {
  if (b.length < CAMERA_AUTH_PACKET_SIZE) return null;
  if (b.readUInt32LE(0) !== 0x40 || b.readUInt32LE(4) !== 0x3000) return null;
  const field = (start: number) => b.toString('ascii', start, start + 32).replace(/\0+$/, '');
  return { username: field(16), accessCode: field(48) };
}

export function frameHeader(payloadSize: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(payloadSize, 0);
  h.writeUInt32LE(0, 4);
  h.writeUInt32LE(1, 8);
  h.writeUInt32LE(0, 12);
  return h;
}

export interface CameraOptions {
  host: string;
  port: number;
  accessCode: string;
  key: string;
  cert: string;
  /** Real ms between frames; real printers send one every 1-2 s. */
  frameIntervalMs?: number;
  /** The current picture (may be drawn asynchronously). */
  frame: () => Buffer | Promise<Buffer>;
}

export class PrinterCamera {
  #server: tls.Server | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #opts: CameraOptions;

  constructor(opts: CameraOptions) {
    this.#opts = opts;
  }

  async start(): Promise<number> {
    const o = this.#opts;
    const server = tls.createServer({ key: o.key, cert: o.cert, minVersion: 'TLSv1.2' }, (socket) =>
      this.#onClient(socket),
    );
    server.on('tlsClientError', () => {});
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as { port: number }).port;
  }

  #onClient(socket: tls.TLSSocket): void {
    this.#sockets.add(socket);
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let timer: NodeJS.Timeout | undefined;
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (timer) {
        clearInterval(timer);
        this.#timers.delete(timer);
      }
    });
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < CAMERA_AUTH_PACKET_SIZE) return;
      socket.off('data', onData);
      const auth = parseCameraAuthPacket(buf.subarray(0, CAMERA_AUTH_PACKET_SIZE));
      if (auth?.username !== 'bblp' || auth.accessCode !== this.#opts.accessCode) {
        socket.end(); // the client reads zero bytes: wrong access code
        return;
      }
      const send = () => {
        if (socket.destroyed || socket.writableNeedDrain) return; // drop frames for slow readers
        void Promise.resolve(this.#opts.frame()).then(
          (jpeg) => {
            if (!socket.destroyed) socket.write(Buffer.concat([frameHeader(jpeg.length), jpeg]));
          },
          () => {},
        );
      };
      send();
      timer = setInterval(send, this.#opts.frameIntervalMs ?? 1000);
      timer.unref();
      this.#timers.add(timer);
    };
    socket.on('data', onData);
  }

  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.clear();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
