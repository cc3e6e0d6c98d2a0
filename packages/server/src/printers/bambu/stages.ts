/**
 * Human text for `print.stg_cur` (bambu-protocol.md §1.6). `-1` (X1) and `255` (P1/A1) are idle;
 * `0` is "printing" but A1/P1 also report 0 while idle after boot, so the caller only shows the
 * printing text while `gcode_state` says a job is active (pitfall 4).
 */
export const STAGES: Record<number, string> = {
  0: 'Printing',
  1: 'Auto bed leveling',
  2: 'Heatbed preheating',
  3: 'Vibration compensation',
  4: 'Changing filament',
  5: 'M400 pause',
  6: 'Paused: filament runout',
  7: 'Heating hotend',
  8: 'Calibrating extrusion',
  9: 'Scanning bed surface',
  10: 'Inspecting first layer',
  11: 'Identifying build plate type',
  12: 'Calibrating micro lidar',
  13: 'Homing toolhead',
  14: 'Cleaning nozzle tip',
  15: 'Checking extruder temperature',
  16: 'Paused by user',
  17: 'Paused: front cover falling',
  18: 'Calibrating micro lidar',
  19: 'Calibrating extrusion flow',
  20: 'Paused: nozzle temperature malfunction',
  21: 'Paused: heatbed temperature malfunction',
  22: 'Filament unloading',
  23: 'Paused: skipped step',
  24: 'Filament loading',
  25: 'Calibrating motor noise',
  26: 'Paused: AMS lost',
  27: 'Paused: low heatbreak fan speed',
  28: 'Paused: chamber temperature control error',
  29: 'Cooling chamber',
  30: 'Paused by user G-code',
  31: 'Motor noise showoff',
  32: 'Paused: nozzle filament covered detected',
  33: 'Paused: cutter error',
  34: 'Paused: first layer error',
  35: 'Paused: nozzle clog',
  36: 'Absolute accuracy calibration',
  37: 'Absolute accuracy calibration',
  38: 'Absolute accuracy calibration',
  39: 'Nozzle offset calibration',
  40: 'High-temperature bed leveling',
  41: 'Checking quick release',
  42: 'Checking door and cover',
  43: 'Laser calibration',
  44: 'Checking platform',
  45: 'Birdeye camera calibration',
  46: 'Birdeye camera calibration',
  47: 'Bed leveling phase 1',
  48: 'Bed leveling phase 2',
  49: 'Heating chamber',
  50: 'Heated bed cooling',
  51: 'Printing calibration lines',
  52: 'Checking material',
  53: 'Live-view camera calibration',
  54: 'Waiting for heatbed temperature',
  55: 'Checking material position',
  56: 'Cutter model offset',
  57: 'Measuring surface',
  58: 'Thermal preconditioning',
  63: 'Waiting for chamber temperature to equalize',
  64: 'Preparing hotend',
  65: 'Nozzle clumping detection calibration',
  66: 'Purifying chamber air',
  67: 'Measuring rotary attachment',
  68: 'Moving toolhead above purge chute',
  69: 'Cooling nozzle',
  70: 'Moving toolhead to center',
  71: 'Active arc fitting',
  72: 'Hotend type detection',
  73: 'Build plate alignment detection',
  74: 'Heatbed foreign object detection',
  75: 'Heatbed foreign object detection',
  76: 'Pre-extrusion',
  77: 'Preparing AMS',
};

const ACTIVE = new Set(['PREPARE', 'SLICING', 'RUNNING', 'PAUSE']);

export function stageText(stgCur: number | null, gcodeState: string | null): string | null {
  if (stgCur === null || stgCur === -1 || stgCur === 255) return null;
  if (!gcodeState || !ACTIVE.has(gcodeState)) return null;
  return STAGES[stgCur] ?? `Stage ${stgCur}`;
}

/**
 * The stable code of the current stage (`bambu_stage_<n>`, texts in both languages in the web's
 * server-codes part); `bambu_stage_unknown` for a number not in the table. Null when stageText is.
 */
export function stageCode(stgCur: number | null, gcodeState: string | null): string | null {
  if (stageText(stgCur, gcodeState) === null) return null;
  return STAGES[stgCur!] ? `bambu_stage_${stgCur}` : 'bambu_stage_unknown';
}
