/** Shapes of the public API (docs/api.md) plus the extra fields the server may add. */

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

export interface Temperature {
  actual: number;
  target: number;
}

export interface PrinterError {
  code: string;
  message: string;
  /** The message per language, when the driver has both (Bambu errors). */
  messages?: { en: string; zh: string };
  url?: string;
}

/** The error text in the viewer's language when the server sent both. */
export function errorMessage(error: PrinterError, locale: string): string {
  if (!error.messages) return error.message;
  return locale.startsWith('zh') ? error.messages.zh : error.messages.en;
}

/** Times may arrive as ISO strings (API) or ms epochs (raw driver state); see util/time.ts. */
export type TimeValue = string | number | null | undefined;

export interface PrinterState {
  status: PrinterStatus;
  stale?: boolean;
  progress: number | null;
  remainingSeconds: number | null;
  layer: { current: number; total: number } | null;
  temperatures: Record<string, Temperature | undefined>;
  job: { queueItemId?: string | null; fileName: string | null; plate: number | null; jobId?: string | null } | null;
  error: PrinterError | null;
  cooldownUntil?: TimeValue;
  gate?: { open: boolean; code?: string | null; reason: string | null; params?: Record<string, unknown> } | null;
  /** Why an idle printer gets no job (null while printing or when it gets one next round). */
  idleReason?: Reason | null;
  /** Why the printer is offline/connecting (a connection code), null when connected. */
  connectionIssue?: (Reason & { since?: string }) | null;
  /** What the printer itself reports, next to what was typed when adding it. */
  reported?: { model: string | null; nozzleDiameter: number | null; firmware?: string | null } | null;
  /** AMS trays and external spool (Bambu only). */
  filament?: FilamentState | null;
  notices?: { code: string; message: string; params?: Record<string, unknown> }[];
  stage?: string | null;
  /** Stable code of the stage (`bambu_stage_<n>`, `uploading_to_sd`), translated by the UI. */
  stageCode?: string | null;
  connectionNote?: string | null;
  lastJob?: { outcome: string; at: TimeValue } | null;
  updatedAt?: TimeValue;
}

export interface PrinterSettings {
  swapCooldownSeconds: number;
  requirePlateClear: boolean;
  nozzleDiameter: number | null;
  [key: string]: unknown;
}

/** A text the server sends by code: `message` is English, the UI translates `code` + `params`. */
export interface Reason {
  code: string;
  message: string;
  params: Record<string, unknown>;
}

export interface AmsTray {
  id: number;
  /** Global slot: ams_id*4 + tray_id (254 = external spool). */
  slot: number;
  type: string | null;
  color: string | null;
  remainingPercent: number | null;
  empty: boolean;
}

export interface FilamentState {
  ams: { id: number; humidity: number | null; temperature: number | null; trays: AmsTray[] }[];
  external: { type: string | null; color: string | null; remainingPercent: number | null; empty: boolean } | null;
  activeSlot: number | null;
}

export interface Printer {
  id: string;
  name: string;
  driver: string;
  model: string | null;
  enabled: boolean;
  settings?: PrinterSettings;
  /** The stored connection without secrets (`accessCodeSet: true` instead). */
  connection?: Record<string, unknown>;
  /** Which extra controls the printer page may offer. */
  controls?: { light?: boolean; fan?: boolean; gcode?: boolean };
  /** Overrides this printer kind honours (bed levelling etc. are Bambu-only). */
  supportedOverrides?: (keyof Overrides)[];
  state: PrinterState;
}

export interface Filament {
  type: string;
  /** `#RRGGBB`, or null when the slicer wrote no valid colour. */
  color: string | null;
  grams: number | null;
}

export interface Plate {
  index: number;
  estimatedSeconds: number | null;
  weightGrams: number | null;
  filaments: Filament[];
  thumbnailUrl: string | null;
}

export interface FileRecord {
  id: string;
  name: string;
  size: number;
  uploadedAt: string;
  printerModel: string | null;
  nozzleDiameter: number | null;
  plates: Plate[];
}

export type QueueStatus = 'waiting' | 'printing' | 'done' | 'failed' | 'cancelled';

export interface Overrides {
  bedLeveling: boolean;
  flowCalibration: boolean;
  timelapse: boolean;
}

export interface QueueItem {
  id: string;
  fileId: string;
  fileName: string;
  plate: number;
  copies: number;
  copiesDone: number;
  status: QueueStatus;
  position: number;
  overrides: Overrides;
  printerIds: string[];
  estimatedSeconds: number | null;
  thumbnailUrl: string | null;
  currentPrinterId: string | null;
  lastError: string | null;
  estimatedStartAt?: string | null;
  estimatedFinishAt?: string | null;
  waitingReason?: Reason | null;
  copiesCancelled?: number;
  copiesFailed?: number;
  activeJobs?: { id: string; printerId: string; printerName: string; status: string; startedAt: string | null }[];
  /** Explicit filament → tray mapping (index = file slot-1, value = global tray, 254 external, -1 unused); null = automatic. */
  amsMapping?: number[] | null;
  filaments?: { slot: number; type: string; color: string | null; grams: number | null }[];
}

export interface QueueView {
  running: boolean;
  items: QueueItem[];
  remainingSeconds: number;
  finishAt: string | null;
  printers?: { printerId: string; printerName: string; idleReason: Reason | null }[];
}

/** POST /queue/fit: would this file fit, and where. */
export interface FitAnswer {
  fits: boolean;
  waitingReason: Reason | null;
  printers: {
    printerId: string;
    printerName: string;
    fits: boolean;
    problem: Reason | null;
    supportedOverrides: (keyof Overrides)[];
    amsMapping: number[] | null;
  }[];
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export type Role = 'admin' | 'operator' | 'viewer';

export interface User {
  id: string;
  username: string;
  role: Role;
  createdAt?: string;
}

export interface ApiKey {
  id: string;
  name: string;
  role: Role;
  createdAt?: string;
  key?: string;
  /** Who made the key; it is revoked when that user is deleted. */
  createdBy?: { id: string; username: string } | null;
}

/** A realtime message from /api/v1/ws. */
export interface LiveEvent {
  type: string;
  data: Record<string, unknown>;
  at: string;
}

/** A row of the event log (GET /api/v1/events). */
export interface LoggedEvent {
  id: string | number;
  type: string;
  /** Stable code, English text and values of what happened (servers with coded events). */
  code?: string | null;
  message?: string | null;
  params?: Record<string, unknown> | null;
  printerId: string | null;
  data: Record<string, unknown>;
  at: string;
}
