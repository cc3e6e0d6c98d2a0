/**
 * Parse benchmark for the file library: builds .gcode.3mf files of 10, 100 and 500 MB of realistic
 * G-code (stored and deflated, with and without `plate_1.gcode.md5`), parses each and prints the
 * parse time and the peak RSS seen while parsing. Every plate's G-code is streamed once through MD5
 * and the layer-marker scan (the `.md5` entry is only a claim, verified), so the time grows with the
 * size, about as fast as inflating it; memory must stay flat in the file size. In the server this
 * runs in a parse worker, off the event loop.
 *
 *   npx tsx bench/parse.ts [--sizes 10,100,500]
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { parse3mf } from '../packages/server/src/library/parse-3mf.ts';

const MB = 1024 * 1024;

interface Variant {
  method: 0 | 8;
  withMd5: boolean;
}

/** Deterministic, realistic extrusion moves (about 30 bytes a line). */
function* gcodeChunks(totalBytes: number): Generator<Buffer> {
  const header =
    '; HEADER_BLOCK_START\n; BambuStudio 02.04.00.70\n; model printing time: 1h 2m 3s; total estimated time: 1h 10m 0s\n' +
    '; total layer number: 400\n; total filament weight [g] : 55.5\n; HEADER_BLOCK_END\n';
  yield Buffer.from(header);
  let written = header.length;
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  while (written < totalBytes) {
    const lines: string[] = [];
    for (let i = 0; i < 4096; i++) {
      lines.push(`G1 X${(rnd() * 250).toFixed(3)} Y${(rnd() * 250).toFixed(3)} E${(rnd() * 0.1).toFixed(5)}\n`);
    }
    let chunk = Buffer.from(lines.join(''));
    if (written + chunk.length > totalBytes) chunk = chunk.subarray(0, totalBytes - written);
    written += chunk.length;
    yield chunk;
  }
}

function localHeader(name: Buffer, method: number, flags: number, crc: number, csize: number, usize: number): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt16LE(method, 8);
  h.writeUInt32LE(crc, 14);
  h.writeUInt32LE(csize, 18);
  h.writeUInt32LE(usize, 22);
  h.writeUInt16LE(name.length, 26);
  return Buffer.concat([h, name]);
}

function centralHeader(name: Buffer, method: number, flags: number, crc: number, csize: number, usize: number, offset: number) {
  const c = Buffer.alloc(46);
  c.writeUInt32LE(0x02014b50, 0);
  c.writeUInt16LE(20, 4);
  c.writeUInt16LE(20, 6);
  c.writeUInt16LE(flags, 8);
  c.writeUInt16LE(method, 10);
  c.writeUInt32LE(crc, 16);
  c.writeUInt32LE(csize, 20);
  c.writeUInt32LE(usize, 24);
  c.writeUInt16LE(name.length, 28);
  c.writeUInt32LE(offset, 42);
  return Buffer.concat([c, name]);
}

/** Streams a .gcode.3mf to disk without holding the G-code in memory (data descriptor for the big entry). */
async function writeSliced3mf(file: string, gcodeBytes: number, v: Variant): Promise<void> {
  const fd = fs.openSync(file, 'w');
  let offset = 0;
  const central: Buffer[] = [];
  const put = (b: Buffer) => {
    fs.writeSync(fd, b);
    offset += b.length;
  };
  const small = (nameStr: string, data: Buffer) => {
    const name = Buffer.from(nameStr);
    const crc = zlib.crc32(data);
    const at = offset;
    put(localHeader(name, 0, 0, crc, data.length, data.length));
    put(data);
    central.push(centralHeader(name, 0, 0, crc, data.length, data.length, at));
  };
  small(
    'Metadata/slice_info.config',
    Buffer.from(
      '<?xml version="1.0" encoding="UTF-8"?>\n<config><plate><metadata key="index" value="1"/>' +
        '<metadata key="printer_model_id" value="C12"/><metadata key="prediction" value="4200"/>' +
        '<filament id="1" type="PLA" color="#FFFFFF" used_m="18.1" used_g="55.5"/></plate></config>',
    ),
  );

  const name = Buffer.from('Metadata/plate_1.gcode');
  const at = offset;
  const flags = 0x08; // sizes and CRC follow the data (data descriptor)
  put(localHeader(name, v.method, flags, 0, 0, 0));
  let crc = 0;
  let usize = 0;
  let csize = 0;
  const md5 = createHash('md5');
  const source = Readable.from(
    (function* () {
      for (const chunk of gcodeChunks(gcodeBytes)) {
        crc = zlib.crc32(chunk, crc);
        md5.update(chunk);
        usize += chunk.length;
        yield chunk;
      }
    })(),
  );
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      csize += chunk.length;
      cb(null, chunk);
    },
  });
  const sink = fs.createWriteStream('', { fd, autoClose: false });
  if (v.method === 8) await pipeline(source, zlib.createDeflateRaw({ level: 1 }), count, sink);
  else await pipeline(source, count, sink);
  offset += csize;
  const dd = Buffer.alloc(16);
  dd.writeUInt32LE(0x08074b50, 0);
  dd.writeUInt32LE(crc, 4);
  dd.writeUInt32LE(csize, 8);
  dd.writeUInt32LE(usize, 12);
  put(dd);
  central.push(centralHeader(name, v.method, flags, crc, csize, usize, at));
  if (v.withMd5) small('Metadata/plate_1.gcode.md5', Buffer.from(md5.digest('hex').toUpperCase()));

  const cd = Buffer.concat(central);
  const cdAt = offset;
  put(cd);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(central.length, 8);
  eocd.writeUInt16LE(central.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(cdAt, 16);
  put(eocd);
  fs.closeSync(fd);
}

async function measure<T>(fn: () => Promise<T>): Promise<{ ms: number; peakRssMb: number; growthMb: number; result: T }> {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const t0 = performance.now();
  try {
    const result = await fn();
    const ms = performance.now() - t0;
    peak = Math.max(peak, process.memoryUsage().rss);
    return { ms, peakRssMb: peak / MB, growthMb: (peak - before) / MB, result };
  } finally {
    clearInterval(timer);
  }
}

export async function run(args: string[]): Promise<void> {
  const i = args.indexOf('--sizes');
  const sizes = i >= 0 ? args[i + 1].split(',').map(Number) : [10, 100, 500];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-parse-'));
  const variants: Variant[] = [
    { method: 0, withMd5: true },
    { method: 8, withMd5: true },
    { method: 8, withMd5: false },
  ];
  const limits = { maxEntryBytes: 1024 ** 3, maxRatio: 1000 };
  console.log('size(MB) entry     md5-file  file(MB)  parse(ms)  peakRSS(MB)  RSS growth(MB)  note');
  try {
    for (const size of sizes) {
      for (const v of variants) {
        const file = path.join(dir, `bench-${size}-${v.method}-${v.withMd5}.gcode.3mf`);
        await writeSliced3mf(file, size * MB, v);
        const fileMb = fs.statSync(file).size / MB;
        const thumbs = fs.mkdtempSync(path.join(dir, 'thumbs-'));
        const m = await measure(() => parse3mf(file, { limits }));
        const plate = m.result.plates[0];
        if (plate.estimatedSeconds !== 4200 || plate.layerCount !== 400 || !plate.gcodeMd5) {
          throw new Error(`bench parse result is wrong: ${JSON.stringify(plate)}`);
        }
        const note = v.withMd5 ? 'md5 claim verified against the G-code' : 'no md5 entry: md5 computed';
        console.log(
          `${String(size).padStart(8)} ${(v.method === 8 ? 'deflated' : 'stored').padEnd(9)} ${String(v.withMd5).padEnd(9)} ` +
            `${fileMb.toFixed(1).padStart(8)} ${m.ms.toFixed(1).padStart(10)} ${m.peakRssMb.toFixed(1).padStart(12)} ${m.growthMb.toFixed(1).padStart(15)}  ${note}`,
        );
        fs.rmSync(file, { force: true });
        fs.rmSync(thumbs, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
