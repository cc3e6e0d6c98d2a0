import type { ThumbnailSource } from './thumbnail-sources.ts';

/** A filament used by a plate, as the slicer recorded it. */
export interface FilamentUse {
  /** Slicer filament/AMS slot id (sparse: 1, 3, ...), when known. */
  id?: number | null;
  type: string;
  /** `#RRGGBB` upper case (alpha dropped); null when the slicer wrote no valid colour. */
  color: string | null;
  grams: number | null;
  meters?: number | null;
}

export interface PlateInfo {
  index: number;
  /** `Metadata/plate_N.gcode` inside a .3mf; null for plain G-code files. */
  gcodePath: string | null;
  gcodeMd5: string | null;
  estimatedSeconds: number | null;
  weightGrams: number | null;
  filaments: FilamentUse[];
  layerCount: number | null;
  printerModel: string | null;
  nozzleDiameter: number | null;
  /** Whether a thumbnail was found (served at thumbnailUrl). */
  hasThumbnail: boolean;
  thumbnailUrl: string | null;
}

/** A stored library file as the API returns it (docs/api.md, Files). */
export interface FileRecord {
  id: string;
  name: string;
  size: number;
  sha256: string;
  /** MD5 (hex) of the whole file: what a Bambu printer checks. */
  md5: string;
  uploadedAt: string;
  kind: '3mf' | 'gcode' | 'bgcode';
  printerModel: string | null;
  nozzleDiameter: number | null;
  plates: PlateInfo[];
}

/** What the queue needs from the library. */
export interface LibraryView {
  getFile(id: string): Promise<FileRecord | undefined>;
  /** Absolute path of the stored bytes on this server's disk. */
  localPath(file: FileRecord): string;
}

/** A file's kind, from its name and checked against its first bytes. */
export type FileKind = FileRecord['kind'];

/** One plate as the parser found it, with its thumbnail candidates (best first, not yet trusted). */
export interface ParsedPlate extends Omit<PlateInfo, 'hasThumbnail' | 'thumbnailUrl'> {
  thumbnails: ThumbnailSource[];
}

/** One plate as meta_json stores it; `thumbnailFile` is a PNG in the file's store dir. */
export interface StoredPlate extends Omit<PlateInfo, 'hasThumbnail' | 'thumbnailUrl'> {
  thumbnailFile: string | null;
}

/** What a parser returns: no ids, no URLs, nothing from the database. */
export interface ParseResult {
  kind: FileKind;
  printerModel: string | null;
  nozzleDiameter: number | null;
  /** Slicer name and version when the file says so, e.g. `BambuStudio 02.04.00.70`. */
  slicer: string | null;
  plates: ParsedPlate[];
  /** Things worth knowing about how the file was read (e.g. an MD5 computed by streaming). */
  notes: string[];
}
