import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../util/logger.ts';
import type { Clock } from '../util/clock.ts';
import type { PrinterSettings, PrinterState } from './model.ts';

/** Everything a driver needs from outside; passed as one object, never positional. */
export interface DriverContext {
  printerId: string;
  printerName: string;
  model: string | null;
  /** Decrypted connection settings as given to POST /api/v1/printers (driver-specific shape). */
  connection: Record<string, unknown>;
  settings: PrinterSettings;
  /** Report silence after which the printer is stale/unknown (server setting RWC_STALE_AFTER). */
  staleAfterSeconds?: number;
  clock: Clock;
  logger: Logger;
  bus: EventBus;
  /** A folder only this printer's driver writes to (certificates, upload records, ...). */
  dataDir: string;
  /** The driver calls this with a fresh full state object on every change. */
  onState(state: PrinterState): void;
}

export interface JobOverrides {
  bedLeveling: boolean;
  flowCalibration: boolean;
  timelapse: boolean;
}

export interface StartJobRequest {
  /** Numeric string < 2^31, chosen and persisted by the queue before anything goes out. */
  jobId: string;
  /** Absolute path of the stored file on the server's disk. */
  localPath: string;
  /** Name the file gets on the printer (e.g. `benchy.gcode.3mf`). */
  fileName: string;
  fileSize: number;
  /** MD5 (hex) of the whole file, as the printer checks it. */
  fileMd5: string;
  /** SHA-256 (hex) of the whole file: its name in the library; an edge agent fetches the file by it. */
  fileSha256?: string;
  plate: number;
  /** Path of the plate's G-code inside a .3mf (`Metadata/plate_1.gcode`), null for plain G-code. */
  gcodePath: string | null;
  overrides: JobOverrides;
  /**
   * Bambu: filament slot → global AMS tray (`ams_mapping`, index = file filament id - 1, -1 unmapped);
   * empty/absent = no AMS (`use_ams: false`, the external spool). Other drivers ignore it.
   */
  amsMapping?: number[];
  /** Shown on the printer's screen / job name. */
  jobName: string;
  onUploadProgress?: (sentBytes: number, totalBytes: number) => void;
  /**
   * Awaited right before the start command goes to the printer (after any upload). The queue
   * records it, so after a crash a job that was never sent can be told from one that may have been.
   */
  beforeStartCommand?: () => Promise<void>;
}

export class DriverError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Values a translated text needs (stable `code` + `params`, English `message`). */
    readonly params: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DriverError';
  }
}

/**
 * The printer explicitly refused the start (a refusal echoed for our own command, or a "busy"
 * answer to it): the job provably did not start, so it can go back to the queue at once — unlike
 * StartNotConfirmedError, where the command may have landed.
 */
export class StartRefusedError extends DriverError {
  constructor(code: string, message: string, params: Record<string, unknown> = {}) {
    super(code, message, params);
    this.name = 'StartRefusedError';
  }
}

/** The start went out but the printer never showed it began; never re-send it blindly. */
export class StartNotConfirmedError extends DriverError {
  constructor(message = 'start not confirmed: the printer did not report the job starting') {
    super('start_not_confirmed', message);
  }
}

/**
 * The server is stopping and the command's outcome will not be known here. The queue leaves a start
 * that fails this way exactly as a crash would (restart reconciliation decides from the printer).
 */
export class ShutdownError extends DriverError {
  constructor(message = 'the server is stopping') {
    super('shutting_down', message);
  }
}

/**
 * The command façade of one printer. Telemetry flows out through DriverContext.onState.
 * Every command resolves when the printer confirms it, or rejects with a DriverError.
 */
export interface PrinterDriver {
  /**
   * True when startJob awaits `beforeStartCommand` right before the start goes out. For drivers
   * without it the queue marks the job as sent before calling startJob (the safe assumption).
   */
  readonly announcesStartCommand?: boolean;
  /** Begins connecting (and reconnecting for ever, with backoff) in the background. */
  start(): Promise<void>;
  /** Closes every connection; in-flight commands finish or fail first. */
  stop(): Promise<void>;
  getState(): PrinterState;
  startJob(req: StartJobRequest): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  cancel(): Promise<void>;
  sendGcode(lines: string[]): Promise<void>;
  /**
   * The G-code console (operator): sends the lines and answers what the printer replied to them
   * (Marlin: the lines up to each `ok`; Klipper: the gcode responses). Absent = no console.
   */
  console?(lines: string[]): Promise<string[]>;
  /** Chamber/case light on or off (Bambu ledctrl, Marlin M355). Absent = not offered. */
  setLight?(on: boolean): Promise<void>;
  /** Part-cooling fan in percent 0–100 (M106/M107). Absent = not offered. */
  setFan?(percent: number): Promise<void>;
  /** Latest camera frame (JPEG), or null when the printer has no camera. */
  snapshot(): Promise<Buffer | null>;
  /** Clears a printer-side error after the user acknowledged it (Bambu clean_print_error). */
  clearError?(): Promise<void>;
  /**
   * An admin trusts the TLS certificate the printer presented (SHA-256 fingerprint, hex), when it
   * changed since the printer was first trusted. Rejects with a DriverError when none matches.
   */
  trustCertificate?(fingerprint256: string): Promise<void>;
}

export type DriverFactory = (ctx: DriverContext) => PrinterDriver;

/** A driver kind registered in the capability registry under kind 'printer-driver'. */
export interface PrinterDriverCapability {
  /** Validates and normalises `connection` from the API; throws a ValidationError naming the field. */
  validateConnection(connection: unknown): Record<string, unknown>;
  /** Connection fields that are secrets: encrypted at rest, never returned. */
  secretFields: string[];
  /**
   * Connection fields that say which device the secrets go to (host, URL, serial, ports, trust
   * settings). Changing one without giving the secrets again is refused: a stored secret is never
   * sent to a new device on the strength of a record edit.
   */
  deviceFields?: string[];
  /** JSON Schema of `connection` (unknown fields refused); see connection-schemas.ts. */
  connectionSchema?: import('@sinclair/typebox').TSchema;
  /** File kinds this driver can print: a Bambu takes sliced '3mf' files, Marlin and Klipper 'gcode'. */
  fileKinds?: readonly string[];
  /** File kinds of one printer when they depend on its connection (an edge agent's printer); else fileKinds. */
  fileKindsOf?(connection: Record<string, unknown>): readonly string[] | undefined;
  create: DriverFactory;
  /** Called once when the server stops (simulated drivers stop their in-process simulators). */
  shutdown?(): Promise<void>;
}
