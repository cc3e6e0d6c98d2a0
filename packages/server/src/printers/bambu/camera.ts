/**
 * A1 / P1 chamber camera: a TLS socket on port 6000 (same CA/SNI as MQTT) streaming JPEG frames
 * (bambu-protocol.md §1.12). We send one 80-byte little-endian auth packet, then read frames of a
 * 16-byte header (payload size LE at 0..3) followed by the JPEG. X1 models use RTSPS on 322
 * instead — future work, the driver returns null for them.
 */
import { connect, type ConnectionOptions } from 'node:tls';
import type { Clock } from '../../util/clock.ts';

export function cameraAuthPacket(accessCode: string): Buffer {
  const buf = Buffer.alloc(80);
  buf.writeUInt32LE(0x40, 0);
  buf.writeUInt32LE(0x3000, 4);
  buf.writeUInt32LE(0, 8);
  buf.writeUInt32LE(0, 12);
  buf.write('bblp', 16, 32, 'ascii');
  buf.write(accessCode, 48, 32, 'ascii');
  return buf;
}

const MAX_FRAME = 8 * 1024 * 1024;

/** Pulls complete frames out of a byte stream. */
export class FrameReader {
  #buf = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    const frames: Buffer[] = [];
    while (this.#buf.length >= 16) {
      const size = this.#buf.readUInt32LE(0);
      if (size === 0 || size > MAX_FRAME) throw new Error(`bad camera frame size ${size}`);
      if (this.#buf.length < 16 + size) break;
      frames.push(this.#buf.subarray(16, 16 + size));
      this.#buf = this.#buf.subarray(16 + size);
    }
    return frames;
  }
}

const isJpeg = (b: Buffer) => b.length > 4 && b[0] === 0xff && b[1] === 0xd8;

export interface CameraTarget {
  host: string;
  port: number;
  accessCode: string;
  tls: ConnectionOptions;
}

/** Connects, waits for one JPEG frame, disconnects. Rejects on timeout or a closed stream. */
export function grabCameraFrame(target: CameraTarget, clock: Clock, timeoutMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const reader = new FrameReader();
    let done = false;
    const socket = connect({ ...target.tls, host: target.host, port: target.port }, () => {
      socket.write(cameraAuthPacket(target.accessCode));
    });
    const finish = (err: Error | null, frame?: Buffer) => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.from(frame!));
    };
    const timer = clock.setTimeout(() => finish(new Error(`no camera frame within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      try {
        const frame = reader.push(chunk).find(isJpeg);
        if (frame) finish(null, frame);
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.on('error', (err) => finish(err));
    // Zero bytes then close = the printer rejected the access code (§1.12).
    socket.on('close', () => finish(new Error('camera stream closed before a frame arrived (wrong access code?)')));
  });
}
