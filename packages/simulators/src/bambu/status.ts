/**
 * The dynamic part of a Bambu `print` report, as the simulated firmware keeps it. Field names and
 * value types are the wire ones (many numbers are strings on the wire, e.g. `mc_print_stage`).
 */
import type { ModelInfo } from './identity.ts';

export type GcodeState = 'IDLE' | 'PREPARE' | 'RUNNING' | 'PAUSE' | 'FINISH' | 'FAILED';

export interface HmsEntry {
  attr: number;
  code: number;
}

export interface PrintStatus {
  gcode_state: GcodeState;
  stg: number[];
  stg_cur: number;
  mc_print_stage: string;
  mc_print_sub_stage: number;
  mc_percent: number;
  /** Minutes, as on the wire. */
  mc_remaining_time: number;
  mc_print_line_number: string;
  layer_num: number;
  total_layer_num: number;
  nozzle_temper: number;
  nozzle_target_temper: number;
  bed_temper: number;
  bed_target_temper: number;
  print_error: number;
  hms: HmsEntry[];
  subtask_name: string;
  subtask_id: string;
  task_id: string;
  project_id: string;
  profile_id: string;
  gcode_file: string;
  gcode_file_prepare_percent: string;
  print_type: string;
  spd_lvl: number;
  spd_mag: number;
  heatbreak_fan_speed: string;
  cooling_fan_speed: string;
  big_fan1_speed: string;
  big_fan2_speed: string;
  fan_gear: number;
  wifi_signal: string;
  lights_report: { node: string; mode: string }[];
  /** Nozzle diameter in mm as the wire has it ("0.4"). */
  nozzle_diameter: string;
  /** AMS units and trays (ams.ts); absent = the capture's. */
  ams?: Record<string, any>;
  /** External spool; absent = the capture's. */
  vt_tray?: Record<string, any>;
}

export const AMBIENT_C = 25;

/** The status of a freshly booted, idle printer (`nozzleDiameter` in mm, default 0.4). */
export function bootStatus(model: ModelInfo, nozzleDiameter = 0.4): PrintStatus {
  return {
    gcode_state: 'IDLE',
    stg: [],
    stg_cur: model.bootStage,
    mc_print_stage: '1',
    mc_print_sub_stage: 0,
    mc_percent: 0,
    mc_remaining_time: 0,
    mc_print_line_number: '0',
    layer_num: 0,
    total_layer_num: 0,
    nozzle_temper: 27.8125,
    nozzle_target_temper: 0,
    bed_temper: 29.75,
    bed_target_temper: 0,
    print_error: 0,
    hms: [],
    subtask_name: '',
    subtask_id: '0',
    task_id: '0',
    project_id: '0',
    profile_id: '0',
    gcode_file: '',
    gcode_file_prepare_percent: '0',
    print_type: 'idle',
    spd_lvl: 2,
    spd_mag: 100,
    heatbreak_fan_speed: '0',
    cooling_fan_speed: '0',
    big_fan1_speed: '0',
    big_fan2_speed: '0',
    fan_gear: 0,
    wifi_signal: '-48dBm',
    lights_report: [{ node: 'chamber_light', mode: 'off' }],
    nozzle_diameter: String(nozzleDiameter),
  };
}

/** States in which the firmware refuses a new `project_file` (bambu-protocol.md §1.5). */
export const BUSY_STATES: ReadonlySet<GcodeState> = new Set(['PREPARE', 'RUNNING', 'PAUSE']);

/** Well-known error codes (bambu-protocol.md §1.7, §1.10, pitfalls 6/23/25). */
export const ERR = {
  /** 0300_400C "The task was canceled" — echo of a user stop, cleared a few seconds later. */
  CANCELED: 0x0300400c,
  /** 0500_4004 "Device is busy" — project_file while a job is active. */
  BUSY: 0x05004004,
  /** 0500_4003 "unable to parse the file" — used here for an MD5 mismatch. */
  FILE_UNPARSABLE: 0x05004003,
  /** 0500_C010 "MicroSD card read/write exception" — used here for a file missing on storage. */
  FILE_MISSING: 0x0500c010,
  /** HMS 0500_0500_0001_0007 "MQTT command verification failed" (Authorization Control on). */
  VERIFY_FAILED_HMS: { attr: 0x05000500, code: 0x00010007 } as HmsEntry,
} as const;

/** `MMMM_EEEE` rendering of a print_error, as Bambu's tools show it. */
export function formatPrintError(v: number): string {
  const h = (v >>> 0).toString(16).toUpperCase().padStart(8, '0');
  return `${h.slice(0, 4)}_${h.slice(4)}`;
}
