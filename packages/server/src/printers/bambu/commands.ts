/**
 * Builders for the JSON published to `device/<serial>/request` (bambu-protocol.md §1.9).
 * Every command carries a unique string `sequence_id` so its ack can be correlated.
 */
import type { JsonObject } from './report.ts';

export type BambuCommand = { type: 'print' | 'pushing' | 'info' | 'system'; body: JsonObject };

/** Unique, increasing sequence ids per driver instance (the printer echoes them in acks). */
export class SequenceIds {
  #next: number;
  constructor(start = Date.now() % 1_000_000) {
    this.#next = Math.max(1, Math.floor(start));
  }
  next(): string {
    return String(this.#next++);
  }
}

export const encodeCommand = (cmd: BambuCommand): string => JSON.stringify({ [cmd.type]: cmd.body });

export const pushAll = (seq: string): BambuCommand => ({
  type: 'pushing',
  body: { sequence_id: seq, command: 'pushall', version: 1, push_target: 1 },
});

/** Legacy "restart pushes" command: revives a printer that silently stopped reporting. */
export const pushStart = (seq: string): BambuCommand => ({
  type: 'pushing',
  body: { sequence_id: seq, command: 'start' },
});

export const getVersion = (seq: string): BambuCommand => ({
  type: 'info',
  body: { sequence_id: seq, command: 'get_version' },
});

export const pausePrint = (seq: string): BambuCommand => ({
  type: 'print',
  body: { sequence_id: seq, command: 'pause', param: '' },
});

export const resumePrint = (seq: string): BambuCommand => ({
  type: 'print',
  body: { sequence_id: seq, command: 'resume', param: '' },
});

export const stopPrint = (seq: string): BambuCommand => ({
  type: 'print',
  body: { sequence_id: seq, command: 'stop', param: '' },
});

/** Several lines are joined with `\n`; the printer runs them in order. */
export const gcodeLine = (seq: string, lines: string[]): BambuCommand => ({
  type: 'print',
  body: { sequence_id: seq, command: 'gcode_line', param: `${lines.join('\n')}\n` },
});

/** Light control (Bambu Studio's light button): `system.ledctrl` on `chamber_light`. */
export const ledCtrl = (seq: string, node: string, mode: 'on' | 'off'): BambuCommand => ({
  type: 'system',
  body: { sequence_id: seq, command: 'ledctrl', led_node: node, led_mode: mode, led_on_time: 500, led_off_time: 500, loop_times: 0, interval_time: 0 },
});

export const cleanPrintError = (seq: string): BambuCommand => ({
  type: 'print',
  body: { sequence_id: seq, command: 'clean_print_error', subtask_id: '', print_error: 0 },
});

export interface ProjectFileOptions {
  sequenceId: string;
  /** File name at the storage root, e.g. `benchy.gcode.3mf`. */
  fileName: string;
  plate: number;
  /** Path inside the 3mf; defaults to `Metadata/plate_<plate>.gcode`. */
  gcodePath?: string | null;
  /** Uppercase hex MD5 of the uploaded bytes. */
  md5: string;
  jobId: string;
  jobName: string;
  bedLeveling: boolean;
  flowCalibration: boolean;
  timelapse: boolean;
  /** One entry per filament of the 3mf (global tray `ams_id*4+slot`, -1 = unmapped); empty = no AMS. */
  amsMapping?: number[];
  /** Printer model ("A1", "A1 mini", "P1S", ...), picks the `url` form. */
  model: string | null;
}

/**
 * `url` (§1.9): Studio's stock plugin uploads to the FTPS root and references it as `ftp:///<file>`
 * (H2/P2 and newer). For the A1 / A1 mini, ha-bambulab (a "legacy SD-card printer") sends
 * `file:///sdcard/<file>` for the same root file, so the A1 family gets that form.
 */
export function projectFileUrl(fileName: string, model: string | null): string {
  const file = fileName.replace(/^\/+/, '');
  return isA1Family(model) ? `file:///sdcard/${file}` : `ftp:///${file}`;
}

export function isA1Family(model: string | null): boolean {
  return !!model && /^(bambu lab )?a1\b/i.test(model.trim());
}

export function projectFile(o: ProjectFileOptions): BambuCommand {
  const mapping = o.amsMapping ?? [];
  const useAms = mapping.some((slot) => slot >= 0);
  return {
    type: 'print',
    body: {
      sequence_id: o.sequenceId,
      command: 'project_file',
      param: o.gcodePath || `Metadata/plate_${o.plate}.gcode`,
      url: projectFileUrl(o.fileName, o.model),
      file: o.fileName.replace(/^\/+/, ''),
      md5: o.md5.toUpperCase(),
      subtask_name: o.jobName,
      project_id: '0',
      profile_id: '0',
      task_id: o.jobId,
      subtask_id: o.jobId,
      bed_type: 'auto',
      bed_leveling: o.bedLeveling,
      auto_bed_leveling: o.bedLeveling ? 1 : 0,
      flow_cali: o.flowCalibration,
      extrude_cali_flag: o.flowCalibration ? 1 : 0,
      vibration_cali: true,
      layer_inspect: false,
      timelapse: o.timelapse,
      // `use_ams` must be a bool (H2D Pro reads an int as a nozzle index; no-AMS P1 rejects true).
      use_ams: useAms,
      ams_mapping: useAms ? mapping : [],
      ams_mapping2: useAms
        ? mapping.map((slot) =>
            // AMS HT units (ids 128-135) hold one spool and are addressed by their own id.
            slot >= 128 ? { ams_id: slot, slot_id: 0 } : slot >= 0 ? { ams_id: slot >> 2, slot_id: slot & 3 } : { ams_id: 255, slot_id: 0 },
          )
        : [],
      cfg: '0',
    },
  };
}

/** Job ids go into `task_id`/`subtask_id`, which P1S clamps to int32 (pitfall 8). */
export function isValidJobId(jobId: string): boolean {
  if (!/^\d{1,10}$/.test(jobId)) return false;
  const n = Number(jobId);
  return n > 0 && n < 2 ** 31;
}
