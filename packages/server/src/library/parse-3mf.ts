import { DomainError, isDomainError } from '../errors.ts';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { invalidFile, NOT_SLICED_MESSAGE } from './file-errors.ts';
import { normaliseColor } from './filaments.ts';
import { GcodeScanner, layerCountFromMarkers } from './gcode-scan.ts';
import { parseGcodeComments } from './parse-gcode-header.ts';
import { printerModelFromId, printerModelFromName } from './printer-models.ts';
import { MAX_THUMBNAIL_BYTES, type ThumbnailSource, thumbnailSource } from './thumbnail-sources.ts';
import type { FilamentUse, ParsedPlate, ParseResult } from './types.ts';
import { SafeZip, type ZipLimits } from './zip-safety.ts';

/**
 * A Bambu Studio / OrcaSlicer `.gcode.3mf` (docs/bambu-protocol.md §2). The central directory, the
 * small metadata entries and up to three pictures per plate are read; each plate's G-code is
 * streamed once through MD5 and the layer-marker scan (constant memory), because
 * `plate_N.gcode.md5` is only the slicer's claim and the printer checks the real bytes.
 *
 * Metadata entries are capped at realistic sizes (docs/decisions.md, Library): a slicer writes a
 * few KiB to a few hundred KiB; anything bigger is refused before a byte is inflated, so a small
 * upload cannot make the server inflate and parse hundreds of MiB of XML.
 */
const GCODE_HEAD_BYTES = 64 * 1024;
/** Largest accepted size of each metadata entry, uncompressed (real files: 1-60 KiB). */
export const METADATA_MAX_BYTES: Record<string, number> = {
  'Metadata/slice_info.config': 2 * 1024 * 1024,
  'Metadata/model_settings.config': 4 * 1024 * 1024,
  'Metadata/project_settings.config': 2 * 1024 * 1024,
};
const MD5_FILE_MAX_BYTES = 1024;
const MAX_PLATE = 999;
const PLATE_GCODE_RE = /^Metadata\/plate_(\d+)\.gcode$/;

type XmlNode = Record<string, any>;

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => ['plate', 'metadata', 'filament', 'header_item', 'object', 'nozzle'].includes(name),
});

/** Parses slicer XML; malformed XML or DTDs (entity-expansion bombs) are refused. */
export function parseConfigXml(text: string, entryName: string): XmlNode {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw invalidFile(`${entryName}: DTDs and entities are not allowed`);
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw invalidFile(`${entryName} is not well-formed XML (line ${valid.err.line}: ${valid.err.msg})`);
  }
  const doc = xmlParser.parse(text) as XmlNode;
  return (doc.config ?? {}) as XmlNode;
}

/** `<metadata key="k" value="v"/>` children as a map. */
function metadataMap(node: XmlNode | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of (node?.metadata ?? []) as XmlNode[]) {
    if (typeof m.key === 'string' && m.value !== undefined) map.set(m.key, String(m.value));
  }
  return map;
}

function numOrNull(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number.parseFloat(v);
  return Number.isFinite(n) ? n : null;
}

function intOrNull(v: string | undefined): number | null {
  const n = numOrNull(v);
  return n === null ? null : Math.trunc(n);
}

interface SlicePlate {
  meta: Map<string, string>;
  filaments: FilamentUse[];
  maxLayer: number | null;
}

function readSlicePlates(config: XmlNode | null): Map<number, SlicePlate> {
  const out = new Map<number, SlicePlate>();
  for (const plate of (config?.plate ?? []) as XmlNode[]) {
    const meta = metadataMap(plate);
    const index = intOrNull(meta.get('index'));
    if (index === null) continue;
    const filaments: FilamentUse[] = ((plate.filament ?? []) as XmlNode[]).map((f) => ({
      id: intOrNull(f.id),
      type: String(f.type ?? 'unknown'),
      color: normaliseColor(String(f.color ?? '')),
      grams: numOrNull(f.used_g),
      meters: numOrNull(f.used_m),
    }));
    let maxLayer: number | null = null;
    const lists = plate.layer_filament_lists?.layer_filament_list;
    for (const l of (Array.isArray(lists) ? lists : lists ? [lists] : []) as XmlNode[]) {
      const hi = intOrNull(String(l.layer_ranges ?? '').split(/\s+/)[1]);
      if (hi !== null && (maxLayer === null || hi > maxLayer)) maxLayer = hi;
    }
    out.set(index, { meta, filaments, maxLayer });
  }
  return out;
}

/** Plate index → G-code entry, from model_settings.config `gcode_file` and from `Metadata/plate_N.gcode` names. */
function findPlateGcode(zip: SafeZip, modelSettings: XmlNode | null): Map<number, { gcode: string; thumb?: string }> {
  const plates = new Map<number, { gcode: string; thumb?: string }>();
  for (const plate of (modelSettings?.plate ?? []) as XmlNode[]) {
    const meta = metadataMap(plate);
    const index = intOrNull(meta.get('plater_id'));
    const gcode = meta.get('gcode_file');
    if (index === null || index < 1 || index > MAX_PLATE || !gcode || !zip.has(gcode)) continue;
    plates.set(index, { gcode, thumb: meta.get('thumbnail_file') });
  }
  for (const name of zip.entries.keys()) {
    const m = PLATE_GCODE_RE.exec(name);
    if (!m) continue;
    const index = Number(m[1]);
    if (index < 1 || index > MAX_PLATE) continue;
    if (!plates.has(index) && ![...plates.values()].some((p) => p.gcode === name)) plates.set(index, { gcode: name });
  }
  return plates;
}

/** A metadata entry's text, refused with `metadata_too_large` past its realistic size. */
async function readMetadata(zip: SafeZip, name: string): Promise<string> {
  const limit = METADATA_MAX_BYTES[name] ?? MD5_FILE_MAX_BYTES;
  const bytes = zip.entries.get(name)?.uncompressedSize ?? 0;
  if (bytes > limit) {
    throw new DomainError(
      'invalid',
      'metadata_too_large',
      `${name} is ${bytes} bytes uncompressed; a slicer writes far less (limit ${limit} bytes): the file is not a genuine sliced file`,
      { entry: name, bytes, limit },
    );
  }
  return zip.readText(name, limit);
}

async function readProjectSettings(zip: SafeZip): Promise<{ model: string | null; nozzle: number | null }> {
  const name = 'Metadata/project_settings.config';
  if (!zip.has(name)) return { model: null, nozzle: null };
  const text = await readMetadata(zip, name);
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const nozzle = Array.isArray(json.nozzle_diameter) ? json.nozzle_diameter[0] : json.nozzle_diameter;
    return {
      model: typeof json.printer_model === 'string' ? json.printer_model : null,
      nozzle: numOrNull(nozzle === undefined ? undefined : String(nozzle)),
    };
  } catch (err) {
    if (isDomainError(err)) throw err;
    // Not needed to print; slice_info and the G-code header carry the same facts.
    return { model: null, nozzle: null };
  }
}

/** Up to three pictures that look like images, in the order given (checked again by sharp later). */
async function readThumbnails(zip: SafeZip, candidates: string[]): Promise<ThumbnailSource[]> {
  const out: ThumbnailSource[] = [];
  for (const name of new Set(candidates)) {
    const size = zip.entries.get(name)?.uncompressedSize;
    if (size === undefined || size === 0 || size > MAX_THUMBNAIL_BYTES) continue;
    const src = thumbnailSource(await zip.readBuffer(name, MAX_THUMBNAIL_BYTES), 'png');
    if (src) out.push(src);
    if (out.length >= 3) break;
  }
  return out;
}

/** The plate G-code streamed once: real MD5, the first bytes (header comments) and layer markers. */
async function scanPlate(zip: SafeZip, name: string) {
  const scanner = new GcodeScanner({ tools: false });
  const head: Buffer[] = [];
  let got = 0;
  for await (const c of zip.chunks(name)) {
    scanner.feed(c);
    if (got < GCODE_HEAD_BYTES) {
      head.push(c.subarray(0, GCODE_HEAD_BYTES - got));
      got += Math.min(c.length, GCODE_HEAD_BYTES - got);
    }
  }
  return { ...scanner.finish(), head: Buffer.concat(head) };
}

export async function parse3mf(file: string, opts: { limits: ZipLimits }): Promise<ParseResult> {
  const zip = await SafeZip.open(file, opts.limits);
  try {
    const readXml = async (name: string) => (zip.has(name) ? parseConfigXml(await readMetadata(zip, name), name) : null);
    const sliceInfo = await readXml('Metadata/slice_info.config');
    const modelSettings = await readXml('Metadata/model_settings.config');
    const gcodeByPlate = findPlateGcode(zip, modelSettings);
    if (gcodeByPlate.size === 0) {
      const isModel = zip.has('3D/3dmodel.model') || zip.has('[Content_Types].xml');
      throw invalidFile(isModel ? NOT_SLICED_MESSAGE : 'this zip holds no G-code (no Metadata/plate_N.gcode entry)');
    }
    const slicePlates = readSlicePlates(sliceInfo);
    const project = await readProjectSettings(zip);
    const clientVersion = ((sliceInfo?.header?.header_item ?? []) as XmlNode[]).find(
      (h) => h.key === 'X-BBL-Client-Version',
    )?.value;
    const notes: string[] = [];
    const plates: ParsedPlate[] = [];
    let slicer: string | null = null;

    for (const index of [...gcodeByPlate.keys()].sort((a, b) => a - b)) {
      const { gcode, thumb } = gcodeByPlate.get(index)!;
      const md5Name = `${gcode}.md5`;
      let claimed: string | null = null;
      if (zip.has(md5Name)) {
        const text = (await readMetadata(zip, md5Name)).trim();
        if (/^[0-9a-fA-F]{32}$/.test(text)) claimed = text.toUpperCase();
      }
      const scan = await scanPlate(zip, gcode);
      const gcodeMd5 = scan.md5;
      if (!claimed) notes.push(`${md5Name} missing or malformed: the MD5 of ${gcode} was computed from its bytes`);
      else if (claimed !== gcodeMd5) {
        notes.push(`${md5Name} claims ${claimed} but ${gcode} has MD5 ${gcodeMd5}: the real MD5 is used (the printer checks it)`);
      }
      const header = parseGcodeComments(scan.head.toString('utf8'));
      slicer ??= header.slicer;
      const sp = slicePlates.get(index);
      const meta = sp?.meta ?? new Map<string, string>();
      const printerModel =
        printerModelFromId(meta.get('printer_model_id')) ??
        printerModelFromName(project.model) ??
        printerModelFromName(header.printerModel);
      const nozzleDiameter =
        numOrNull(meta.get('nozzle_diameters')?.split(/[,\s]/)[0]) ?? project.nozzle ?? header.nozzleDiameter;
      const thumbCandidates = [
        ...(thumb ? [thumb] : []),
        `Metadata/plate_${index}.png`,
        `Metadata/plate_${index}_small.png`,
        `Metadata/top_${index}.png`,
      ];
      const thumbnails = await readThumbnails(zip, thumbCandidates);
      plates.push({
        index,
        gcodePath: gcode,
        gcodeMd5,
        estimatedSeconds: intOrNull(meta.get('prediction')) ?? header.estimatedSeconds,
        weightGrams: numOrNull(meta.get('weight')) ?? header.weightGrams,
        filaments: sp?.filaments ?? [],
        layerCount:
          header.layerCount ?? layerCountFromMarkers(scan.layerMarkers) ?? (sp?.maxLayer != null ? sp.maxLayer + 1 : null),
        printerModel,
        nozzleDiameter,
        thumbnails,
      });
    }
    if (!slicer && clientVersion) slicer = `BambuStudio ${clientVersion}`;
    return {
      kind: '3mf',
      printerModel: plates.find((p) => p.printerModel)?.printerModel ?? null,
      nozzleDiameter: plates.find((p) => p.nozzleDiameter !== null)?.nozzleDiameter ?? null,
      slicer,
      plates,
      notes,
    };
  } finally {
    zip.close();
  }
}
