/**
 * Where frames come from and where they go: HTTP snapshot URLs and MJPEG streams over real HTTP
 * (mjpg-streamer-style stand-in and the Moonraker simulator's announced webcam), refusals (4xx,
 * huge, slow, not an image, a stream that never completes a JPEG), normalisation of huge pictures,
 * and frame retention by count and bytes with kept frames exempt.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MoonrakerSimulator } from '@rwc/simulators/moonraker/index.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { FakeClock } from '../../src/util/clock.ts';
import { fetchImage } from '../../src/util/http-image.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FrameStore, normaliseImage, defaultFrameLimits } from '../../src/vision/frame-store.ts';
import { standinDetections } from '../../src/vision/detectors/standin.ts';
import { createTempDatabase } from '../helpers/pg.ts';
import { tempDir } from '../helpers/server.ts';

let camera: http.Server;
let base: string;
let jpeg: Buffer;

beforeAll(async () => {
  jpeg = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#884422' } })
    .jpeg()
    .toBuffer();
  camera = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/snapshot') {
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      return res.end(jpeg);
    }
    if (u.pathname === '/stream') {
      // mjpg-streamer: parts behind a boundary, one every 100 ms, the JPEG split across writes.
      res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace;boundary=boundarydonotcross' });
      const send = () => {
        res.write(`--boundarydonotcross\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`);
        res.write(jpeg.subarray(0, 100));
        setTimeout(() => res.write(Buffer.concat([jpeg.subarray(100), Buffer.from('\r\n')])), 20);
      };
      send();
      const t = setInterval(send, 100);
      req.on('close', () => clearInterval(t));
      return;
    }
    if (u.pathname === '/broken-stream') {
      res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace;boundary=b' });
      res.write('--b\r\nContent-Type: image/jpeg\r\n\r\n');
      res.write(jpeg.subarray(0, 50));
      return res.end();
    }
    if (u.pathname === '/huge') {
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      const chunk = Buffer.alloc(1024 * 1024, 0xab);
      let n = 0;
      const more = () => {
        while (n < 40) {
          n++;
          if (!res.write(chunk)) return void res.once('drain', more);
        }
        res.end();
      };
      return more();
    }
    if (u.pathname === '/slow') return void setTimeout(() => res.end(jpeg), 5000);
    res.writeHead(404).end('no such camera');
  });
  await new Promise<void>((r) => camera.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(camera.address() as AddressInfo).port}`;
});
afterAll(async () => {
  camera.closeAllConnections();
  await new Promise((r) => camera.close(r));
});

describe('camera pictures over HTTP', () => {
  it('reads a snapshot URL and the first frame of an MJPEG stream', async () => {
    expect(await fetchImage(`${base}/snapshot`)).toEqual(jpeg);
    expect(await fetchImage(`${base}/stream`)).toEqual(jpeg);
  });

  it('refuses 4xx, huge, slow and broken answers with a clear reason', async () => {
    await expect(fetchImage(`${base}/nope`)).rejects.toMatchObject({ code: 'camera_http_error', status: 404 });
    await expect(fetchImage(`${base}/huge`, { maxBytes: 8 * 1024 * 1024 })).rejects.toMatchObject({
      code: 'camera_too_large',
    });
    await expect(fetchImage(`${base}/slow`, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'camera_timeout' });
    await expect(fetchImage(`${base}/broken-stream`)).rejects.toMatchObject({ code: 'camera_bad_image' });
    await expect(fetchImage('http://127.0.0.1:1/x', { timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'camera_unreachable',
    });
  });

  it('the Moonraker simulator announces its webcam and serves the print scene', async () => {
    const sim = new MoonrakerSimulator({ webcam: true });
    await sim.start();
    try {
      const snap = await fetchImage(`${sim.url}/webcam/?action=snapshot`);
      const meta = await sharp(snap).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1280, 720]);
      const fromStream = await fetchImage(`${sim.url}/webcam/?action=stream`);
      expect((await sharp(fromStream).metadata()).width).toBe(1280);
    } finally {
      await sim.stop();
    }
  });
});

describe('frame normalisation', () => {
  it('scales a huge picture down to the longest side and re-encodes other formats as JPEG', async () => {
    const png = await sharp({ create: { width: 8000, height: 4000, channels: 3, background: '#00ff00' } })
      .png()
      .toBuffer();
    const out = await normaliseImage(png, defaultFrameLimits);
    expect([out.width, out.height]).toEqual([1920, 960]);
    expect(out.jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    // The stand-in detector copes with it too.
    expect((await standinDetections(out.jpeg)).detections).toEqual([]);
  });

  it('refuses what is not an image, and images over the byte limit before decoding', async () => {
    await expect(normaliseImage(Buffer.from('<html>camera login</html>'), defaultFrameLimits)).rejects.toMatchObject({
      code: 'not_an_image',
    });
    await expect(
      normaliseImage(Buffer.alloc(20, 1), { ...defaultFrameLimits, maxInputBytes: 10 }),
    ).rejects.toMatchObject({ code: 'image_too_large' });
  });
});

describe.each(['sqlite', 'postgres'] as const)('frame store retention (%s)', (dialect) => {
  let storage: Storage;
  let dir: string;
  let drop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    dir = tempDir();
    let databaseUrl: string | null = null;
    if (dialect === 'postgres') {
      const db = await createTempDatabase();
      databaseUrl = db.url;
      drop = db.drop;
    }
    storage = await openStorage({ dataDir: dir, databaseUrl });
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps at most N frames and B bytes, oldest first, and spares kept frames', async () => {
    const clock = new FakeClock();
    const store = new FrameStore({
      db: storage.db,
      dataDir: dir,
      clock,
      logger: silentLogger(),
      limits: { maxFrames: 5, maxBytes: jpeg.length * 4 + 10, maxKeptFrames: 2 },
    });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      clock.advance(1000);
      ids.push((await store.save(jpeg, 'p1')).id);
      await store.prune();
    }
    await store.keep(ids[6]!);
    await store.prune();
    const u = await store.usage();
    // Four frames fit the byte limit (five would not); one of them is now kept.
    expect(u).toEqual({ frames: 4, bytes: jpeg.length * 4, kept: 1 });
    expect(await store.get(ids[0]!)).toBeNull();
    expect((await store.get(ids[7]!))?.jpeg).toEqual(jpeg);
    expect((await store.get(ids[6]!))?.jpeg).toEqual(jpeg);
    expect(fs.readdirSync(path.join(dir, 'vision', 'frames'))).toHaveLength(4);
    // A kept frame no longer counts against the ordinary limits: four more ordinary ones fit.
    const more: string[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(1000);
      more.push((await store.save(jpeg, 'p1')).id);
    }
    await store.prune();
    expect(await store.usage()).toEqual({ frames: 5, bytes: jpeg.length * 5, kept: 1 });
    // Kept frames have their own cap.
    for (const id of more.slice(0, 3)) await store.keep(id);
    await store.prune();
    expect((await store.usage()).kept).toBe(2);
    expect(await store.get('../../etc/passwd')).toBeNull();
  });
});
