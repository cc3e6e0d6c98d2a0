import { describe, expect, it } from 'vitest';
import { handleCommand, plateFromParam, storagePathFromUrl } from '../../src/bambu/commands.ts';
import { MODELS } from '../../src/bambu/identity.ts';
import { type JobSpec, PrintLifecycle } from '../../src/bambu/lifecycle.ts';
import { buildPrintSnapshot, computeDelta } from '../../src/bambu/report.ts';
import { ERR, formatPrintError } from '../../src/bambu/status.ts';

const job = (over: Partial<JobSpec> = {}): JobSpec => ({
  file: 'a.gcode.3mf',
  plate: 1,
  subtaskName: 'a',
  subtaskId: '11',
  taskId: '12',
  projectId: '0',
  profileId: '0',
  bedLeveling: false,
  flowCali: false,
  vibrationCali: false,
  printSeconds: 600,
  totalLayers: 50,
  ...over,
});

const lifecycle = (model: keyof typeof MODELS = 'A1') =>
  new PrintLifecycle({ model: MODELS[model], random: () => 0.5 });

/** Advances in 1 s steps, recording every distinct stg_cur and state. */
function run(lc: PrintLifecycle, seconds: number) {
  const stages: number[] = [];
  const states: string[] = [];
  for (let i = 0; i < seconds; i++) {
    lc.advance(1);
    if (stages.at(-1) !== lc.status.stg_cur) stages.push(lc.status.stg_cur);
    if (states.at(-1) !== lc.status.gcode_state) states.push(lc.status.gcode_state);
  }
  return { stages, states };
}

describe('PrintLifecycle', () => {
  it('plans bed levelling and flow calibration only when asked', () => {
    const plain = lifecycle();
    plain.startJob(job());
    expect(plain.status.stg).not.toContain(1);
    expect(plain.status.stg).not.toContain(8);
    const both = lifecycle();
    both.startJob(job({ bedLeveling: true, flowCali: true }));
    expect(both.status.stg).toContain(1);
    expect(both.status.stg).toContain(8);
    const { stages } = run(both, 400);
    expect(stages).toEqual(expect.arrayContaining([2, 13, 14, 1, 7, 8, 0]));
  });

  it('goes PREPARE → RUNNING → FINISH with rising progress and temperatures, and FINISH stays', () => {
    const lc = lifecycle();
    lc.startJob(job());
    expect(lc.status.gcode_state).toBe('PREPARE');
    expect(lc.status.subtask_id).toBe('11');
    const seen: { pct: number; layer: number; left: number }[] = [];
    for (let t = 0; t < 2000 && lc.status.gcode_state !== 'FINISH'; t += 10) {
      lc.advance(10);
      if (lc.status.gcode_state === 'RUNNING') {
        seen.push({ pct: lc.status.mc_percent, layer: lc.status.layer_num, left: lc.status.mc_remaining_time });
      }
    }
    expect(lc.status.gcode_state).toBe('FINISH');
    expect(seen.length).toBeGreaterThan(30);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i].pct).toBeGreaterThanOrEqual(seen[i - 1].pct);
      expect(seen[i].layer).toBeGreaterThanOrEqual(seen[i - 1].layer);
      expect(seen[i].left).toBeLessThanOrEqual(seen[i - 1].left);
    }
    expect(seen[0].left).toBe(10); // minutes
    expect(lc.status.layer_num).toBe(50);
    expect(lc.status.mc_percent).toBe(100);
    expect(lc.status.stg_cur).toBe(255);
    lc.advance(100_000);
    expect(lc.status.gcode_state).toBe('FINISH');
    expect(lc.status.nozzle_temper).toBeLessThan(30); // cooled down
  });

  it('heats towards the targets while printing', () => {
    const lc = lifecycle();
    lc.startJob(job({ nozzleTemp: 230, bedTemp: 70 }));
    run(lc, 200);
    expect(lc.status.gcode_state).toBe('RUNNING');
    expect(lc.status.nozzle_target_temper).toBe(230);
    expect(lc.status.nozzle_temper).toBeGreaterThan(200);
    expect(lc.status.bed_temper).toBeGreaterThan(60);
    expect((lc.status.bed_temper * 32) % 1).toBe(0); // 1/32 °C resolution like the A1
  });

  it('refuses a second job while busy', () => {
    const lc = lifecycle();
    expect(lc.startJob(job()).ok).toBe(true);
    const r = lc.startJob(job({ subtaskId: '99' }));
    expect(r).toEqual({ ok: false, reason: 'device is busy', printError: ERR.BUSY });
    expect(lc.status.subtask_id).toBe('11');
  });

  it('stop → FAILED with the cancel echo, cleared a few seconds later', () => {
    const lc = lifecycle();
    lc.startJob(job());
    run(lc, 150);
    expect(lc.stop().ok).toBe(true);
    expect(lc.status.gcode_state).toBe('FAILED');
    expect(formatPrintError(lc.status.print_error)).toBe('0300_400C');
    expect(lc.status.mc_percent).toBe(0);
    lc.advance(10);
    expect(lc.status.print_error).toBe(0);
    expect(lc.status.gcode_state).toBe('FAILED');
    expect(lc.stop().ok).toBe(false);
  });

  it('maps injected errors the way firmware does', () => {
    const lc = lifecycle();
    lc.startJob(job());
    lc.injectError({ printError: 0x0500c011 }); // prompt: no state change
    expect(lc.status.gcode_state).toBe('PREPARE');
    lc.injectError({ printError: 0x03008015 }); // filament runout: pause
    expect(lc.status.gcode_state).toBe('PAUSE');
    expect(lc.status.stg_cur).toBe(6);
    const before = lc.status.stg_cur;
    lc.advance(1000);
    expect(lc.status.gcode_state).toBe('PAUSE'); // paused jobs don't progress
    expect(lc.status.stg_cur).toBe(before);
    lc.resume();
    expect(lc.status.print_error).toBe(0);
    lc.injectError({ hms: [{ attr: 0x0c000100, code: 0x00020001 }] }); // serious HMS: halt
    expect(lc.status.gcode_state).toBe('PAUSE');
    lc.resume();
    lc.injectError({ printError: 0x07004001 }); // fatal: fail
    expect(lc.status.gcode_state).toBe('FAILED');
    lc.clearError();
    expect(lc.status.hms).toEqual([]);
    expect(lc.status.print_error).toBe(0);
  });

  it('finishNow and X1 idle stage', () => {
    const lc = lifecycle('X1C');
    expect(lc.status.stg_cur).toBe(-1);
    lc.startJob(job({ plate: 2 }));
    expect(lc.status.gcode_file).toBe('/data/Metadata/plate_2.gcode');
    lc.finishNow();
    expect(lc.status.gcode_state).toBe('FINISH');
    expect(lc.status.stg_cur).toBe(-1);
  });

  it('applies temperature G-code', () => {
    const lc = lifecycle();
    lc.applyGcode('M104 S200\nM140 S60 ; bed\nG28');
    expect(lc.status.nozzle_target_temper).toBe(200);
    expect(lc.status.bed_target_temper).toBe(60);
  });
});

describe('reports and commands (pure)', () => {
  it('deltas carry only changed fields', () => {
    const lc = lifecycle();
    const a = buildPrintSnapshot(lc.status);
    lc.status.bed_temper = 30;
    lc.status.wifi_signal = '-50dBm';
    const delta = computeDelta(a, buildPrintSnapshot(lc.status));
    expect(delta).toEqual({ bed_temper: 30, wifi_signal: '-50dBm' });
  });

  it('resolves storage paths from every url form', () => {
    expect(storagePathFromUrl('ftp:///cube.gcode.3mf', '')).toBe('cube.gcode.3mf');
    expect(storagePathFromUrl('ftp://cube.gcode.3mf', '')).toBe('cube.gcode.3mf');
    expect(storagePathFromUrl('file:///sdcard/cube.gcode.3mf', '')).toBe('cube.gcode.3mf');
    expect(storagePathFromUrl('file:///mnt/sdcard/cache/x.3mf', '')).toBe('cache/x.3mf');
    expect(storagePathFromUrl('file:///mnt/sdcard', 'y.3mf')).toBe('y.3mf');
    expect(plateFromParam('Metadata/plate_3.gcode')).toBe(3);
  });

  it('project_file reads the plate estimate and accepts an empty md5', () => {
    const lc = lifecycle();
    const out = handleCommand(
      {
        lifecycle: lc,
        model: MODELS.A1,
        serial: 'S',
        verifyFailedMode: false,
        defaultPrintSeconds: 1800,
        inspectFile: () => ({ exists: true, md5: 'ABC', predictionSeconds: 120, totalLayers: 7 }),
      },
      {
        print: { command: 'project_file', sequence_id: '5', param: 'Metadata/plate_1.gcode', url: 'ftp:///a', md5: '' },
      },
    );
    expect(out.publish[0].print).toMatchObject({ command: 'project_file', sequence_id: '5', result: 'success' });
    expect(lc.status.total_layer_num).toBe(7);
    expect(lc.status.mc_remaining_time).toBe(2);
  });
});
