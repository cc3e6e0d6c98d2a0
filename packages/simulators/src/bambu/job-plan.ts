/**
 * What a job is and how the firmware prepares it: the PREPARE stage plan (`stg` / `stg_cur`
 * ids, bambu-protocol.md §1.6) with its heater targets, and the heater model.
 */
import { AMBIENT_C } from './status.ts';

export interface JobSpec {
  file: string;
  plate: number;
  subtaskName: string;
  subtaskId: string;
  taskId: string;
  projectId: string;
  profileId: string;
  bedLeveling: boolean;
  flowCali: boolean;
  vibrationCali: boolean;
  /** Simulated seconds of actual printing (the plate's estimate when known). */
  printSeconds: number;
  /** 0 = unknown (a default is derived from the duration). */
  totalLayers: number;
  nozzleTemp?: number;
  bedTemp?: number;
}

export interface PrepStage {
  id: number;
  seconds: number;
  nozzleTarget?: number;
  bedTarget?: number;
}

/** `stg_cur` ids (§1.6): heatbed preheating, homing, nozzle cleaning, ABL, vibration, hotend heat, flow cali. */
export const STAGE = { ABL: 1, BED_PREHEAT: 2, VIBRATION: 3, M400_PAUSE: 5, RUNOUT: 6, HOTEND_HEAT: 7, FLOW_CALI: 8 };
const STAGE_HOMING = 13;
const STAGE_CLEAN_NOZZLE = 14;
export const STAGE_USER_PAUSE = 16;
export const DEFAULT_NOZZLE = 220;
export const DEFAULT_BED = 65;

export function planStages(job: JobSpec): PrepStage[] {
  const nozzle = job.nozzleTemp ?? DEFAULT_NOZZLE;
  const bed = job.bedTemp ?? DEFAULT_BED;
  const stages: PrepStage[] = [
    // Bambu start G-code probes at 140 °C so nothing oozes on the bed.
    { id: STAGE.BED_PREHEAT, seconds: 40, bedTarget: bed, nozzleTarget: 140 },
    { id: STAGE_HOMING, seconds: 15 },
    { id: STAGE_CLEAN_NOZZLE, seconds: 25, nozzleTarget: 170 },
  ];
  if (job.bedLeveling) stages.push({ id: STAGE.ABL, seconds: 60, nozzleTarget: 140 });
  if (job.vibrationCali) stages.push({ id: STAGE.VIBRATION, seconds: 40 });
  stages.push({ id: STAGE.HOTEND_HEAT, seconds: 20, nozzleTarget: nozzle });
  if (job.flowCali) stages.push({ id: STAGE.FLOW_CALI, seconds: 45 });
  return stages;
}

/** A first-order approach of `current` towards `target` (ambient when the heater is off). */
export function approach(current: number, target: number, dt: number, heatTau: number, coolTau: number): number {
  const goal = target > 0 ? target : AMBIENT_C;
  const tau = goal > current ? heatTau : coolTau;
  const next = goal + (current - goal) * Math.exp(-dt / tau);
  // The A1 reports temperatures in 1/32 °C steps (e.g. 27.8125).
  return Math.round(next * 32) / 32;
}
