/**
 * The simulated firmware's print lifecycle: a pure state machine over simulated seconds.
 * No sockets, no timers: the owner calls `advance(simSeconds)` and the command methods, then
 * reads `status`. IDLE/FINISH/FAILED → PREPARE (stages) → RUNNING → end G-code → FINISH, which
 * stays until the next job (bambu-protocol.md §1.5, §1.13).
 */
import type { ModelInfo } from './identity.ts';
import {
  approach,
  DEFAULT_BED,
  DEFAULT_NOZZLE,
  type JobSpec,
  type PrepStage,
  planStages,
  STAGE,
  STAGE_USER_PAUSE,
} from './job-plan.ts';
import { BUSY_STATES, bootStatus, ERR, type HmsEntry, type PrintStatus } from './status.ts';

export type { JobSpec } from './job-plan.ts';

export interface LifecycleOptions {
  model: ModelInfo;
  /** Total simulated seconds of PREPARE with every optional calibration on; default ≈ stage table. */
  prepareSeconds?: number;
  /** Simulated seconds of end G-code (still RUNNING, 100 %) before FINISH; default 15. */
  endGcodeSeconds?: number;
  random?: () => number;
  /** A1 mini firmware: a project_file while busy is refused AND cancels the running job. */
  busyStartCancels?: boolean;
  /** Nozzle diameter reported in `nozzle_diameter` (mm); default 0.4. */
  nozzleDiameter?: number;
}

export type CommandResult = { ok: true } | { ok: false; reason: string; printError?: number };

type Phase =
  | { kind: 'idle' }
  | { kind: 'prepare'; stages: PrepStage[]; index: number; inStage: number; elapsed: number }
  | { kind: 'print'; elapsed: number }
  | { kind: 'end'; elapsed: number };

const CANCEL_ECHO_SECONDS = 5;
/** Simulated seconds for the 3mf download/unzip (`gcode_file_prepare_percent` 0 → 100). */
const DOWNLOAD_SECONDS = 5;

export class PrintLifecycle {
  readonly status: PrintStatus;
  #phase: Phase = { kind: 'idle' };
  #paused = false;
  #job: JobSpec | null = null;
  #cancelEchoLeft = 0;
  readonly #model: ModelInfo;
  readonly #prepareSeconds: number | undefined;
  readonly #endSeconds: number;
  readonly #random: () => number;
  readonly #busyStartCancels: boolean;

  constructor(opts: LifecycleOptions) {
    this.#model = opts.model;
    this.#prepareSeconds = opts.prepareSeconds;
    this.#endSeconds = opts.endGcodeSeconds ?? 15;
    this.#random = opts.random ?? Math.random;
    this.#busyStartCancels = opts.busyStartCancels ?? false;
    this.status = bootStatus(opts.model, opts.nozzleDiameter);
  }

  get job(): JobSpec | null {
    return this.#job;
  }

  get isActive(): boolean {
    return BUSY_STATES.has(this.status.gcode_state);
  }

  startJob(job: JobSpec): CommandResult {
    if (this.isActive) {
      if (this.#busyStartCancels) this.stop();
      return { ok: false, reason: 'device is busy', printError: ERR.BUSY };
    }
    let stages = planStages(job);
    if (this.#prepareSeconds !== undefined) {
      const full = planStages({ ...job, bedLeveling: true, flowCali: true, vibrationCali: true });
      const factor = this.#prepareSeconds / full.reduce((a, s) => a + s.seconds, 0);
      stages = stages.map((s) => ({ ...s, seconds: s.seconds * factor }));
    }
    const totalLayers = job.totalLayers > 0 ? job.totalLayers : Math.max(10, Math.round(job.printSeconds / 30));
    this.#job = { ...job, totalLayers, printSeconds: Math.max(1, job.printSeconds) };
    this.#phase = { kind: 'prepare', stages, index: 0, inStage: 0, elapsed: 0 };
    this.#paused = false;
    this.#cancelEchoLeft = 0;
    Object.assign(this.status, {
      gcode_state: 'PREPARE',
      stg: stages.map((s) => s.id),
      stg_cur: stages[0].id,
      mc_print_stage: '1',
      mc_percent: 0,
      mc_remaining_time: Math.ceil(job.printSeconds / 60),
      mc_print_line_number: '0',
      layer_num: 0,
      total_layer_num: totalLayers,
      print_error: 0,
      subtask_name: job.subtaskName,
      subtask_id: job.subtaskId,
      task_id: job.taskId,
      project_id: job.projectId,
      profile_id: job.profileId,
      gcode_file: this.#model.gcodeFileWhilePrinting(job.file, job.plate),
      gcode_file_prepare_percent: '0',
      print_type: 'local',
    } satisfies Partial<PrintStatus>);
    this.#applyStageTargets(stages[0]);
    return { ok: true };
  }

  /**
   * The firmware took the job but could not open it (missing file, MD5 mismatch): it reports the
   * job's ids with FAILED and a print_error, like a job rejected during setup (§1.5).
   */
  rejectJob(job: JobSpec, printError: number): void {
    this.#job = null;
    Object.assign(this.status, {
      subtask_name: job.subtaskName,
      subtask_id: job.subtaskId,
      task_id: job.taskId,
      project_id: job.projectId,
      profile_id: job.profileId,
      mc_percent: 0,
      layer_num: 0,
      total_layer_num: 0,
      gcode_file_prepare_percent: '0',
    } satisfies Partial<PrintStatus>);
    this.#toFailed(printError);
  }

  pause(): CommandResult {
    const s = this.status.gcode_state;
    if (s !== 'RUNNING' && s !== 'PREPARE') return { ok: false, reason: `cannot pause in ${s}` };
    this.#enterPause(STAGE_USER_PAUSE);
    return { ok: true };
  }

  resume(): CommandResult {
    if (this.status.gcode_state !== 'PAUSE')
      return { ok: false, reason: `cannot resume in ${this.status.gcode_state}` };
    this.#paused = false;
    this.status.print_error = 0; // resuming acknowledges the pause reason
    this.status.gcode_state = this.#phase.kind === 'prepare' ? 'PREPARE' : 'RUNNING';
    this.status.mc_print_stage = this.#phase.kind === 'prepare' ? '1' : '2';
    if (this.#phase.kind === 'prepare') this.#applyStageTargets(this.#phase.stages[this.#phase.index]);
    else this.#applyPrintTargets();
    this.status.stg_cur = this.#phase.kind === 'prepare' ? this.#phase.stages[this.#phase.index].id : 0;
    return { ok: true };
  }

  /** User cancel: FAILED + the 0300_400C echo, progress fields reset to 0 (pitfall 3). */
  stop(): CommandResult {
    if (!this.isActive) return { ok: false, reason: 'no task is running' };
    this.#toFailed(ERR.CANCELED);
    this.status.mc_percent = 0;
    this.status.layer_num = 0;
    this.#cancelEchoLeft = CANCEL_ECHO_SECONDS;
    return { ok: true };
  }

  /** Jumps to the end of the job (FINISH), whatever phase it is in. */
  finishNow(): void {
    if (!this.#job || !this.isActive) return;
    this.#paused = false;
    this.#toFinish();
  }

  /**
   * Fault injection, applied the way firmware does (§1.7): a print_error whose low word is 0x8xxx
   * pauses an active job, 0x4xxx fails it, 0xCxxx (prompt) and < 0x4000 leave the state alone;
   * an HMS of severity fatal/serious (code >> 16 ∈ {1,2}) pauses an active job.
   */
  injectError(e: { printError?: number; hms?: HmsEntry[] }): void {
    if (e.hms) this.status.hms = e.hms.map((h) => ({ attr: h.attr >>> 0, code: h.code >>> 0 }));
    const pe = e.printError ?? 0;
    if (e.printError !== undefined) this.status.print_error = pe >>> 0;
    if (!this.isActive) return;
    const low = pe & 0xffff;
    if (e.printError !== undefined && low >= 0x4000 && low < 0x8000) {
      this.#toFailed(pe >>> 0);
      return;
    }
    const hmsHalts = (e.hms ?? []).some((h) => [1, 2].includes(h.code >>> 16));
    if ((low >= 0x8000 && low < 0xc000) || hmsHalts) {
      if (this.status.gcode_state !== 'PAUSE') this.#enterPause(low === 0x8015 ? STAGE.RUNOUT : STAGE.M400_PAUSE);
    }
  }

  clearError(): void {
    this.status.print_error = 0;
    this.status.hms = [];
  }

  /**
   * Sets the HMS list without touching the job: firmware that keeps notices in its reports while it
   * goes on printing (X1C "first-layer inspection not supported", unlisted entries on X2D/P2S/H2C).
   */
  setHms(hms: HmsEntry[]): void {
    this.status.hms = hms.map((h) => ({ attr: h.attr >>> 0, code: h.code >>> 0 }));
  }

  /** `clean_print_error`: the user dismissed the error on the screen. */
  cleanPrintError(): void {
    this.status.print_error = 0;
  }

  /** Test helper: force fields; an inactive gcode_state also drops any running job. */
  setState(patch: Partial<PrintStatus>): void {
    Object.assign(this.status, patch);
    if (patch.gcode_state && !BUSY_STATES.has(patch.gcode_state)) {
      this.#phase = { kind: 'idle' };
      this.#paused = false;
    }
  }

  /** Applies the few G-code commands that change reported state (M104/M109 nozzle, M140/M190 bed). */
  applyGcode(lines: string): void {
    for (const raw of lines.split('\n')) {
      const line = raw.split(';')[0].trim().toUpperCase();
      const m = /^(M104|M109|M140|M190)\b.*?\bS(\d+(?:\.\d+)?)/.exec(line);
      if (!m) continue;
      const t = Number(m[2]);
      if (m[1] === 'M104' || m[1] === 'M109') this.status.nozzle_target_temper = t;
      else this.status.bed_target_temper = t;
    }
  }

  setSpeedLevel(level: number): void {
    const mag: Record<number, number> = { 1: 50, 2: 100, 3: 124, 4: 166 };
    if (!mag[level]) return;
    this.status.spd_lvl = level;
    this.status.spd_mag = mag[level];
  }

  /** Moves simulated time forward. Handles any number of phase changes within one step. */
  advance(dt: number): void {
    if (dt <= 0) return;
    this.#advanceTemperatures(dt);
    if (this.#cancelEchoLeft > 0) {
      this.#cancelEchoLeft -= dt;
      if (this.#cancelEchoLeft <= 0 && this.status.print_error === ERR.CANCELED) this.status.print_error = 0;
    }
    let left = dt;
    while (left > 0 && !this.#paused && this.#phase.kind !== 'idle') left = this.#advancePhase(left);
  }

  /** Consumes part of `dt` in the current phase; returns what is left for the next phase. */
  #advancePhase(dt: number): number {
    const phase = this.#phase;
    const job = this.#job!;
    if (phase.kind === 'prepare') {
      const stage = phase.stages[phase.index];
      const used = Math.min(dt, stage.seconds - phase.inStage);
      phase.inStage += used;
      phase.elapsed += used;
      const pct = Math.min(100, Math.floor((100 * phase.elapsed) / DOWNLOAD_SECONDS));
      this.status.gcode_file_prepare_percent = String(pct);
      if (phase.inStage >= stage.seconds) {
        phase.index++;
        phase.inStage = 0;
        if (phase.index >= phase.stages.length) this.#toRunning();
        else {
          this.status.stg_cur = phase.stages[phase.index].id;
          this.#applyStageTargets(phase.stages[phase.index]);
        }
      }
      return dt - used;
    }
    if (phase.kind === 'print') {
      const used = Math.min(dt, job.printSeconds - phase.elapsed);
      phase.elapsed += used;
      const frac = phase.elapsed / job.printSeconds;
      this.status.mc_percent = Math.min(99, Math.floor(frac * 100));
      this.status.mc_remaining_time = Math.ceil((job.printSeconds - phase.elapsed) / 60);
      this.status.layer_num = Math.min(job.totalLayers, Math.floor(frac * job.totalLayers) + 1);
      this.status.mc_print_line_number = String(Math.floor(frac * job.totalLayers * 400));
      this.status.cooling_fan_speed = this.status.layer_num > 1 ? '15' : '0';
      if (phase.elapsed >= job.printSeconds) {
        // Last layer done: M73 P100 R0, then the end G-code (and any plate swap) runs while RUNNING.
        this.#phase = { kind: 'end', elapsed: 0 };
        Object.assign(this.status, { mc_percent: 100, mc_remaining_time: 0, layer_num: job.totalLayers });
        Object.assign(this.status, { nozzle_target_temper: 0, bed_target_temper: 0, cooling_fan_speed: '0' });
      }
      return dt - used;
    }
    if (phase.kind === 'end') {
      const used = Math.min(dt, this.#endSeconds - phase.elapsed);
      phase.elapsed += used;
      if (phase.elapsed >= this.#endSeconds) this.#toFinish();
      return dt - used;
    }
    return 0;
  }

  #advanceTemperatures(dt: number): void {
    const s = this.status;
    s.nozzle_temper = approach(s.nozzle_temper, s.nozzle_target_temper, dt, 12, 90);
    s.bed_temper = approach(s.bed_temper, s.bed_target_temper, dt, 60, 400);
    s.heatbreak_fan_speed = s.nozzle_temper > 50 ? '15' : '0';
    // Wi-Fi strength wanders a little, so even an idle printer has something to push.
    if (this.#random() < 0.5) {
      const dbm = Number.parseInt(s.wifi_signal, 10) + Math.round(this.#random() * 2 - 1);
      s.wifi_signal = `${Math.max(-70, Math.min(-35, dbm))}dBm`;
    }
  }

  #applyStageTargets(stage: PrepStage): void {
    if (stage.nozzleTarget !== undefined) this.status.nozzle_target_temper = stage.nozzleTarget;
    if (stage.bedTarget !== undefined) this.status.bed_target_temper = stage.bedTarget;
  }

  #applyPrintTargets(): void {
    if (this.#phase.kind === 'end') return;
    this.status.nozzle_target_temper = this.#job?.nozzleTemp ?? DEFAULT_NOZZLE;
    this.status.bed_target_temper = this.#job?.bedTemp ?? DEFAULT_BED;
  }

  #toRunning(): void {
    this.#phase = { kind: 'print', elapsed: 0 };
    Object.assign(this.status, {
      gcode_state: 'RUNNING',
      stg_cur: 0,
      mc_print_stage: '2',
      layer_num: 1,
      gcode_file_prepare_percent: '100',
    } satisfies Partial<PrintStatus>);
    this.#applyPrintTargets();
  }

  #enterPause(stage: number): void {
    this.#paused = true;
    this.status.gcode_state = 'PAUSE';
    this.status.mc_print_stage = '3';
    this.status.stg_cur = stage;
  }

  #toFinish(): void {
    const job = this.#job!;
    this.#phase = { kind: 'idle' };
    Object.assign(this.status, {
      gcode_state: 'FINISH',
      stg: [],
      stg_cur: this.#model.idleStage,
      mc_print_stage: '1',
      mc_percent: 100,
      mc_remaining_time: 0,
      layer_num: job.totalLayers,
      nozzle_target_temper: 0,
      bed_target_temper: 0,
      gcode_file: '',
      gcode_file_prepare_percent: '100',
      print_type: 'idle',
      cooling_fan_speed: '0',
    } satisfies Partial<PrintStatus>);
  }

  #toFailed(printError: number): void {
    this.#phase = { kind: 'idle' };
    this.#paused = false;
    Object.assign(this.status, {
      gcode_state: 'FAILED',
      stg: [],
      stg_cur: this.#model.idleStage,
      mc_print_stage: '1',
      mc_remaining_time: 0,
      nozzle_target_temper: 0,
      bed_target_temper: 0,
      print_error: printError,
      gcode_file: '',
      print_type: 'idle',
      cooling_fan_speed: '0',
    } satisfies Partial<PrintStatus>);
  }
}
