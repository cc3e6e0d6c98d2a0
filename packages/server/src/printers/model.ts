import type { ConnectionIssue } from './connection-issue.ts';

/**
 * The one printer model every driver translates its protocol into (docs/architecture.md).
 * Nothing here knows about MQTT, serial or JSON-RPC.
 */
export type PrinterStatus =
  | 'offline'
  | 'connecting'
  | 'unknown'
  | 'idle'
  | 'preparing'
  | 'printing'
  | 'paused'
  | 'finished'
  | 'error';

export type Temperature = { actual: number; target: number };
export type PrinterError = {
  code: string;
  /** One line for API clients (Bambu errors carry English and Chinese: "text / 文本"). */
  message: string;
  /** The same text per language, for a UI that shows one. */
  messages?: { en: string; zh: string };
  /** Values a translated text needs (the HMS code, the print_error code, a stage number, ...). */
  params?: Record<string, unknown>;
  url?: string;
};
/**
 * Something the printer says that is worth showing but does not stop it (a Bambu HMS entry while it
 * prints, a firmware notice). `info` = a note, `warning` = worth a look; a stopped printer is
 * `status: 'error'` with `error`, never a notice. `code` is stable (e.g. the HMS code), `message` English.
 */
export type PrinterNotice = {
  level: 'info' | 'warning';
  code: string;
  message: string;
  params?: Record<string, unknown>;
  messages?: { en: string; zh: string };
  url?: string;
};

/** What the printer reports about itself (Bambu get_version / nozzle_diameter, Moonraker/Marlin info). */
export type ReportedIdentity = {
  /** Canonical model name (see library/printer-models.ts), or null when the printer has not said. */
  model: string | null;
  nozzleDiameter: number | null;
  firmware?: string | null;
};

export type JobOutcome = 'finished' | 'failed' | 'cancelled';

export interface PrinterJobInfo {
  /** The id the platform gave this job when it sent it (Bambu: task/subtask id); null for jobs started elsewhere. */
  jobId: string | null;
  fileName: string | null;
  plate: number | null;
  /** Filled in by the queue for the API; drivers leave it null. */
  queueItemId?: string | null;
}

/** One filament holder: an AMS / AMS lite tray or the external spool (Bambu `vt_tray`). */
export interface FilamentTray {
  /** Tray id inside its unit (0-3); 254 for the external spool. */
  id: number;
  /** Global index the printer uses in `ams_mapping`: ams_id*4 + tray id; 254 = external spool. */
  slot: number;
  /** Filament type as the printer reports it ("PLA", "PETG"...); null when not known / empty. */
  type: string | null;
  /** `#RRGGBB` upper case; null when not known. */
  color: string | null;
  /** Remaining percent (RFID spools); null when the printer does not know. */
  remainingPercent: number | null;
  /** Nothing loaded in this tray. */
  empty: boolean;
}

/** The filament a printer has loaded (Bambu: AMS units + external spool); null = the printer does not say. */
export interface PrinterFilament {
  ams: Array<{ id: number; humidity: number | null; temperature: number | null; trays: FilamentTray[] }>;
  external: FilamentTray | null;
  /** Global slot feeding the nozzle now (`tray_now`), 254 external; null when none / not known. */
  activeSlot: number | null;
}

export interface PrinterState {
  status: PrinterStatus;
  /** True once a full status report arrived since the last (re)connect. */
  fullStatus: boolean;
  /** Reports stopped for longer than the stale limit (then status is also `unknown`). */
  stale: boolean;
  /** Percent of the current job, 0–100 (as the API shows it). */
  progress: number | null;
  remainingSeconds: number | null;
  layer: { current: number; total: number } | null;
  temperatures: { nozzle?: Temperature; bed?: Temperature; chamber?: Temperature; [name: string]: Temperature | undefined };
  job: PrinterJobInfo | null;
  error: PrinterError | null;
  /** Notes and warnings that do not stop the printer (HMS notices, unknown states named). */
  notices: PrinterNotice[];
  /** What the printer says it is; files are matched against this first, the typed model second. */
  reported: ReportedIdentity;
  /** Human text of the current stage (Bambu `stg_cur`), or null. */
  stage: string | null;
  /** Stable code of the stage (`bambu_stage_<n>`, `uploading_to_sd`), for the viewer's language. */
  stageCode?: string | null;
  /** How the last job ended and when the printer reported it (ms epoch); the plate-swap cooldown counts from it. */
  lastJob: { jobId: string | null; outcome: JobOutcome; at: number } | null;
  /** A user-facing hint about the connection ("wrong access code", "check the serial", ...). */
  connectionNote: string | null;
  /**
   * Why the printer is offline/connecting (or what is wrong with its link), as a stable code with
   * params (printers/connection-issue.ts); null when the link is fine. Optional: drivers that do not
   * set it get one derived from `connectionNote` by the presenter.
   */
  connectionIssue?: ConnectionIssue | null;
  /** ms epoch of the last report from the device. */
  updatedAt: number | null;
  /** Loaded filament (Bambu AMS trays and external spool); null/absent for printers that do not report it. */
  filament?: PrinterFilament | null;
}

export function initialPrinterState(): PrinterState {
  return {
    status: 'offline',
    fullStatus: false,
    stale: false,
    progress: null,
    remainingSeconds: null,
    layer: null,
    temperatures: {},
    job: null,
    error: null,
    notices: [],
    reported: { model: null, nozzleDiameter: null },
    stage: null,
    lastJob: null,
    connectionNote: null,
    connectionIssue: null,
    updatedAt: null,
  };
}

/** What the API returns for a printer (never its secrets). */
export interface PrinterSummary {
  id: string;
  name: string;
  driver: string;
  model: string | null;
  enabled: boolean;
  settings: PrinterSettings;
  /** File kinds the driver prints ('3mf', 'gcode'); undefined = not known. */
  fileKinds?: readonly string[];
}

export interface PrinterSettings {
  swapCooldownSeconds: number;
  requirePlateClear: boolean;
  nozzleDiameter: number | null;
  [key: string]: unknown;
}

export const defaultPrinterSettings: PrinterSettings = {
  swapCooldownSeconds: 90,
  requirePlateClear: false,
  nozzleDiameter: null,
};
