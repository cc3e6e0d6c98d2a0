import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BambuSimulator, buildCameraAuthPacket } from '../../src/bambu/index.ts';
import { encodeBlockJpeg } from '../../src/bambu/jpeg.ts';

/** Opens the :6000 stream, sends the auth packet, collects bytes until `enough` or the socket ends. */
function readCamera(sim: BambuSimulator, code: string, enough: (b: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const socket = tls.connect(
      { host: sim.host, port: sim.ports.camera, ca: sim.caCertPem, servername: sim.serial },
      () => socket.write(buildCameraAuthPacket('bblp', code)),
    );
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (enough(buf)) {
        socket.destroy();
        resolve(buf);
      }
    });
    socket.on('end', () => resolve(buf));
    socket.on('error', reject);
  });
}

const hasFrame = (b: Buffer) => b.length >= 16 && b.length >= 16 + b.readUInt32LE(0);

describe('Bambu simulator camera (A1/P1 :6000 protocol)', () => {
  const sim = new BambuSimulator({ model: 'P1S', cameraFrameIntervalMs: 50 });
  beforeAll(() => sim.start());
  afterAll(() => sim.stop());

  it('streams JPEG frames behind 16-byte headers after a valid auth packet', async () => {
    const buf = await readCamera(sim, sim.accessCode, (b) => {
      if (!hasFrame(b)) return false;
      const rest = b.subarray(16 + b.readUInt32LE(0));
      return hasFrame(rest);
    });
    const size = buf.readUInt32LE(0);
    expect(buf.readUInt32LE(4)).toBe(0);
    expect(buf.readUInt32LE(8)).toBe(1);
    expect(buf.readUInt32LE(12)).toBe(0);
    const jpeg = buf.subarray(16, 16 + size);
    expect([...jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8]); // SOI
    expect([...jpeg.subarray(-2)]).toEqual([0xff, 0xd9]); // EOI
    // SOF0 declares the real stream's 1280×720.
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(jpeg.readUInt16BE(sof + 5)).toBe(720);
    expect(jpeg.readUInt16BE(sof + 7)).toBe(1280);
    // A second frame follows.
    const next = buf.subarray(16 + size);
    expect(next.readUInt32LE(0)).toBeGreaterThan(100);
  });

  it('sends zero bytes and closes on a wrong access code', async () => {
    const buf = await readCamera(sim, 'wrong000', () => false);
    expect(buf.length).toBe(0);
  });
});

describe('block JPEG encoder', () => {
  it('writes a well-formed segment sequence with byte-stuffed entropy data', () => {
    const jpeg = encodeBlockJpeg(64, 32, (bx, by) => [(bx * 37) % 256, (by * 91) % 256, 255]);
    const markers: number[] = [];
    let i = 2;
    while (i < jpeg.length) {
      expect(jpeg[i]).toBe(0xff);
      const marker = jpeg[i + 1];
      markers.push(marker);
      if (marker === 0xda) break;
      i += 2 + jpeg.readUInt16BE(i + 2);
    }
    expect(markers).toEqual([0xe0, 0xdb, 0xc0, 0xc4, 0xc4, 0xda]);
    const scan = jpeg.subarray(i + 2 + jpeg.readUInt16BE(i + 2), jpeg.length - 2);
    for (let k = 0; k < scan.length - 1; k++) if (scan[k] === 0xff) expect(scan[k + 1]).toBe(0x00);
    expect(() => encodeBlockJpeg(10, 8, () => [0, 0, 0])).toThrow();
  });
});
