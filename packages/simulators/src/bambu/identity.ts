/**
 * Per-model identity facts of a simulated Bambu printer: what `get_version` reports, how the
 * serial looks, which `stg_cur` the model uses for "idle" (A1/P1 report 255, X1 -1, and A1/P1
 * report 0 right after boot — bambu-protocol.md §1.6 / pitfall 4).
 */
import { randomInt } from 'node:crypto';

export type BambuModel = 'A1' | 'A1 mini' | 'P1P' | 'P1S' | 'X1C';

export interface ModelInfo {
  readonly model: BambuModel;
  /** `info.module[].project_name` (A1 = N2S, A1 mini = N1, P1P = C11, P1S = C12, X1C = BL-P001). */
  readonly projectName: string;
  readonly productName: string;
  /** `hw_ver` of the esp32/rv1126 module; ha-bambulab uses it for model detection. */
  readonly mainHwVer: string;
  readonly serialPrefix: string;
  /** `stg_cur` after a job ended. */
  readonly idleStage: number;
  /** `stg_cur` right after boot (A1/P1 firmware reports 0 here, which is NOT "printing"). */
  readonly bootStage: number;
  /** X1 reports the ramdisk path while printing; P1/A1 report the 3mf name. */
  readonly gcodeFileWhilePrinting: (file: string, plate: number) => string;
}

const p1a1File = (file: string) => file;
const x1File = (_file: string, plate: number) => `/data/Metadata/plate_${plate}.gcode`;

export const MODELS: Record<BambuModel, ModelInfo> = {
  A1: {
    model: 'A1',
    projectName: 'N2S',
    productName: 'Bambu Lab A1',
    mainHwVer: 'AP05',
    serialPrefix: '039',
    idleStage: 255,
    bootStage: 0,
    gcodeFileWhilePrinting: p1a1File,
  },
  'A1 mini': {
    model: 'A1 mini',
    projectName: 'N1',
    productName: 'Bambu Lab A1 mini',
    mainHwVer: 'AP05',
    serialPrefix: '030',
    idleStage: 255,
    bootStage: 0,
    gcodeFileWhilePrinting: p1a1File,
  },
  P1P: {
    model: 'P1P',
    projectName: 'C11',
    productName: 'Bambu Lab P1P',
    mainHwVer: 'AP04',
    serialPrefix: '01S',
    idleStage: 255,
    bootStage: 0,
    gcodeFileWhilePrinting: p1a1File,
  },
  P1S: {
    model: 'P1S',
    projectName: 'C12',
    productName: 'Bambu Lab P1S',
    mainHwVer: 'AP04',
    serialPrefix: '01P',
    idleStage: 255,
    bootStage: 0,
    gcodeFileWhilePrinting: p1a1File,
  },
  X1C: {
    model: 'X1C',
    projectName: 'BL-P001',
    productName: 'Bambu Lab X1 Carbon',
    mainHwVer: 'AP05',
    serialPrefix: '00M',
    idleStage: -1,
    bootStage: -1,
    gcodeFileWhilePrinting: x1File,
  },
};

const SERIAL_ALPHABET = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ';

/** Real serials are 15 upper-case characters, e.g. `03919C4xxxxxxxx` for an A1. */
export function randomSerial(model: BambuModel): string {
  let s = MODELS[model].serialPrefix;
  while (s.length < 15) s += SERIAL_ALPHABET[randomInt(SERIAL_ALPHABET.length)];
  return s;
}

/** The LAN access code shown on the printer screen: 8 characters (digits on A1/P1). */
export function randomAccessCode(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += String(randomInt(10));
  return s;
}
