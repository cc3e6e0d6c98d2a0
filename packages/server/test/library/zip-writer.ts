import { createHash } from 'node:crypto';
import zlib from 'node:zlib';

/**
 * A tiny zip writer for building hostile archives in tests: every header field can be forced to a
 * lie (sizes, flags, attributes, raw name bytes).
 */
export interface TestEntry {
  name: string | Buffer;
  data: Buffer | string;
  /** 0 stored, 8 deflate (default 8 for data over 64 bytes). */
  method?: number;
  flags?: number;
  externalAttributes?: number;
  versionMadeBy?: number;
  /** Override the declared uncompressed size (central directory and local header). */
  declaredSize?: number;
  /** Override the compression method written in the headers only (data is still encoded by `method`). */
  declaredMethod?: number;
  /** Point the central directory at another entry's local header (index into the entries). */
  sameDataAs?: number;
}

export function buildZip(entries: TestEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  const offsets: number[] = [];
  for (const e of entries) {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
    const method = e.method ?? (data.length > 64 ? 8 : 0);
    const body = method === 8 ? zlib.deflateRawSync(data) : data;
    const crc = zlib.crc32(data);
    const size = e.declaredSize ?? data.length;
    const flags = e.flags ?? (typeof e.name === 'string' && /[^\x00-\x7f]/.test(e.name) ? 0x800 : 0);
    const declaredMethod = e.declaredMethod ?? method;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(declaredMethod, 8);
    local.writeUInt32LE(0, 10);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, body);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(e.versionMadeBy ?? 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(declaredMethod, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30);
    central.writeUInt16LE(0, 32);
    central.writeUInt16LE(0, 34);
    central.writeUInt16LE(0, 36);
    central.writeUInt32LE(e.externalAttributes ?? 0, 38);
    central.writeUInt32LE(e.sameDataAs !== undefined ? offsets[e.sameDataAs] : offset, 42);
    offsets.push(offset);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

/** A 1x1 PNG. */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

export const SLICE_INFO = `<?xml version="1.0" encoding="UTF-8"?>
<config>
  <header><header_item key="X-BBL-Client-Version" value="02.04.00.70"/></header>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="printer_model_id" value="N2S"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="prediction" value="600"/>
    <metadata key="weight" value="3.5"/>
    <filament id="3" type="PETG" color="#FF0000FF" used_m="1.1" used_g="3.5" />
  </plate>
</config>`;

export const PLATE_GCODE = `; HEADER_BLOCK_START
; BambuStudio 02.04.00.70
; model printing time: 8m 1s; total estimated time: 10m 0s
; total layer number: 42
; HEADER_BLOCK_END
G28
G1 X10 Y10
`;

/** A minimal valid single-plate .gcode.3mf, with entries replaced/added by `extra`. */
export function sliced3mf(extra: TestEntry[] = [], opts: { md5?: boolean } = {}): Buffer {
  const base: TestEntry[] = [
    { name: '[Content_Types].xml', data: '<Types/>' },
    { name: 'Metadata/slice_info.config', data: SLICE_INFO },
    { name: 'Metadata/plate_1.gcode', data: PLATE_GCODE },
    { name: 'Metadata/plate_1.png', data: TINY_PNG, method: 0 },
  ];
  if (opts.md5 !== false) {
    const md5 = createHash('md5').update(PLATE_GCODE).digest('hex').toUpperCase();
    base.push({ name: 'Metadata/plate_1.gcode.md5', data: md5 });
  }
  const names = new Set(extra.map((e) => String(e.name)));
  return buildZip([...base.filter((e) => !names.has(String(e.name))), ...extra]);
}
