import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gcodeLine, isValidJobId, projectFile, projectFileUrl } from '../../src/printers/bambu/commands.ts';
import {
  describeHms,
  describePrintError,
  faultFromReport,
  formatHmsCode,
  formatPrintError,
} from '../../src/printers/bambu/errors.ts';
import {
  classifyMessage,
  mergeReport,
  parsePayload,
  readReport,
  type JsonObject,
} from '../../src/printers/bambu/report.ts';
import { buildState, type DriverView, nextLastJob } from '../../src/printers/bambu/state-map.ts';
import { BAMBU_FIXTURES } from '../helpers/fixtures.ts';

const FIX = BAMBU_FIXTURES;
const fixture = (name: string) => JSON.parse(readFileSync(`${FIX}/${name}`, 'utf8'));
const fullA1 = () => fixture('ha-bambulab.MOCK-A1.json').pushall as JsonObject;

function view(partial: Partial<DriverView>): DriverView {
  return {
    link: 'connected',
    fullStatus: true,
    stale: false,
    report: null,
    lastJob: null,
    connectionNote: null,
    driverError: null,
    updatedAt: 1,
    platesByJobId: new Map(),
    hideChamber: false,
    ...partial,
  };
}

describe('report merge (real fixtures)', () => {
  it('replays the real P1 deltas over a real full report: absent = unchanged', () => {
    const full = classifyMessage(fullA1());
    expect(full.kind).toBe('status');
    if (full.kind !== 'status') return;
    expect(full.full).toBe(true);
    let base = full.print;
    const lines = readFileSync(`${FIX}/delta-reports.real-captures.jsonl`, 'utf8').trim().split('\n');
    const seen: string[] = [];
    for (const line of lines) {
      const msg = classifyMessage(parsePayload(Buffer.from(line))!);
      expect(msg.kind).toBe('status');
      if (msg.kind !== 'status') continue;
      expect(msg.full).toBe(false);
      base = mergeReport(base, msg.print);
      seen.push(readReport(base).gcodeState!);
    }
    const r = readReport(base);
    expect(seen).toEqual(['IDLE', 'IDLE', 'PAUSE']);
    expect(r.bed).toBe(36.03125);
    expect(r.nozzle).toBe(214.5);
    expect(r.wifiDbm).toBe(-36);
    expect(r.printError).toBe(50364437);
    // untouched by any delta: still the full report's values
    expect(r.nozzleTarget).toBe(0);
    expect(r.subtaskId).toBe('0');
    expect(Array.isArray((base.ams as JsonObject).ams)).toBe(true);
    const state = buildState(view({ report: r }));
    expect(state.status).toBe('error');
    expect(state.error?.code).toBe('0300_8015');
    expect(state.error?.message).toMatch(/Filament ran out.*耗材/);
  });

  it('replaces hms whole and merges nested objects key by key', () => {
    const base = {
      hms: [
        { attr: 1, code: 2 },
        { attr: 3, code: 4 },
      ],
      ams: { tray_now: '1', ams: [{ id: '0' }] },
    };
    const merged = mergeReport(base, { hms: [{ attr: 5, code: 6 }], ams: { ams: [{ id: '1' }] } });
    expect(merged.hms).toEqual([{ attr: 5, code: 6 }]);
    // AMS units merge by id (a delta may name only the unit that changed, as ha-bambulab reads it).
    expect(merged.ams).toEqual({ tray_now: '1', ams: [{ id: '0' }, { id: '1' }] });
    expect(base.hms).toHaveLength(2);
  });

  it('normalises strings, dBm, non-UTF-8 bytes and raw newlines without throwing', () => {
    const bytes = Buffer.concat([
      Buffer.from('{"print":{"command":"push_status","msg":1,"subtask_name":"caf'),
      Buffer.from([0xe9]),
      Buffer.from('","mc_remaining_time":"12","layer_num":"3","wifi_signal":"-48dBm"}}'),
    ]);
    const msg = parsePayload(bytes);
    expect(msg).not.toBeNull();
    const r = readReport((msg as { print: JsonObject }).print);
    expect(r.subtaskName).toBe('café');
    expect(r.remainingMinutes).toBe(12);
    expect(r.layerNum).toBe(3);
    expect(r.wifiDbm).toBe(-48);
    expect(parsePayload(Buffer.from('{"print":{"gcode_file":"a\nb"}}'))).toEqual({ print: { gcode_file: 'a b' } });
    expect(parsePayload(Buffer.from('not json'))).toBeNull();
    expect(parsePayload(Buffer.from('[1,2]'))).toBeNull();
  });
});

describe('state mapping', () => {
  it('maps the real A1 idle, P1P FINISH, X1C FINISH and P1P FAILED reports', () => {
    const a1 = buildState(view({ report: readReport(fullA1().print as JsonObject), hideChamber: true }));
    expect(a1).toMatchObject({ status: 'idle', error: null, job: null, stage: null, progress: 0, remainingSeconds: 0 });
    expect(a1.temperatures.nozzle).toEqual({ actual: 27.8125, target: 0 });
    expect(a1.temperatures.chamber).toBeUndefined();

    const p1p = readReport(fixture('ha-bambulab.MOCK-P1PNOAMS.json').pushall.print);
    const last = nextLastJob(null, p1p, 1000);
    expect(last).toEqual({ jobId: '715417867', outcome: 'finished', at: 1000 });
    expect(nextLastJob(last, p1p, 5000)).toBe(last); // same subtask still shown: keep `at`
    expect(buildState(view({ report: p1p, lastJob: last })).status).toBe('idle');

    const x1 = readReport(fixture('ha-bambulab.MOCK-X1CMULTIAMS.json').pushall.print);
    expect(x1.stgCur).toBe(-1);
    expect(buildState(view({ report: x1 })).layer).toEqual({ current: 480, total: 480 });

    const failed = readReport(fixture('ha-bambulab.P1P.json').push_all);
    expect(nextLastJob(null, failed, 7)).toEqual({ jobId: null, outcome: 'failed', at: 7 });
  });

  it('a cancel echo is cancelled (and stays so when the echo clears), not an error', () => {
    const base = readReport(fullA1().print as JsonObject);
    const cancelled = { ...base, gcodeState: 'FAILED', subtaskId: '42', printError: 50348044 };
    const first = nextLastJob(null, cancelled, 10);
    expect(first?.outcome).toBe('cancelled');
    expect(nextLastJob(first, { ...cancelled, printError: 0 }, 20)).toBe(first);
    expect(buildState(view({ report: cancelled })).status).toBe('idle');
  });

  it('running report: job, progress, minutes → seconds, stage; unknown until full; stale', () => {
    const base = readReport(fullA1().print as JsonObject);
    const running = {
      ...base,
      gcodeState: 'RUNNING',
      stgCur: 2,
      subtaskId: '77',
      subtaskName: 'cube',
      percent: 40,
      remainingMinutes: 12,
    };
    const s = buildState(view({ report: running, platesByJobId: new Map([['77', 2]]) }));
    expect(s).toMatchObject({ status: 'printing', progress: 40, remainingSeconds: 720, stage: 'Heatbed preheating' });
    expect(s.job).toEqual({ jobId: '77', fileName: 'cube', plate: 2 });
    expect(buildState(view({ report: running, fullStatus: false })).status).toBe('unknown');
    expect(buildState(view({ report: running, stale: true })).status).toBe('unknown');
    expect(buildState(view({ report: running, link: 'offline' })).status).toBe('offline');
    // A1 reports stg_cur 0 while idle after boot: no "Printing" stage text then
    expect(buildState(view({ report: { ...base, stgCur: 0 } })).stage).toBeNull();
  });
});

describe('errors', () => {
  it('renders print_error as MMMM_EEEE and HMS as HMS_AAAA_AAAA_CCCC_CCCC with text and link', () => {
    expect(formatPrintError(50348044)).toBe('0300_400C');
    expect(formatPrintError(117473286)).toBe('0700_8006');
    expect(formatHmsCode({ attr: 50331904, code: 65543 })).toBe('0300_0100_0001_0007');
    const hms = describeHms({ attr: 50331904, code: 65543 });
    expect(hms.code).toBe('HMS_0300_0100_0001_0007');
    expect(hms.url).toBe('https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0300_0100_0001_0007');
    expect(hms.message).toMatch(/Heatbed.*\/.*热床/);
    expect(describePrintError(117473286).message).toMatch(/AMS.*\/.*AMS/);
    expect(describePrintError(0x0300_8099).message).toContain('0300_8099');
  });

  it('filters cancel echoes, low codes and idle-time prompts; flags verify-failed', () => {
    expect(faultFromReport(50348044, [], 'FAILED')).toBeNull();
    expect(faultFromReport(0x0500_400e, [], 'FAILED')).toBeNull();
    expect(faultFromReport(0x0300_0002, [], 'RUNNING')).toBeNull();
    expect(faultFromReport(83935249, [], 'FINISH')).toBeNull(); // 0500_C011 advisory at FINISH
    expect(faultFromReport(83935249, [], 'RUNNING')?.code).toBe('0500_C011');
    expect(faultFromReport(0, [{ attr: 0x0700_2000, code: 0x0004_0001 }], 'RUNNING')).toBeNull(); // info
    // A listed serious HMS is not an error while the printer is idle or printing, only once it stopped.
    expect(faultFromReport(0, [{ attr: 0x0700_2000, code: 0x0002_0001 }], 'IDLE')).toBeNull();
    expect(faultFromReport(0, [{ attr: 0x0700_2000, code: 0x0002_0001 }], 'RUNNING')).toBeNull();
    expect(faultFromReport(0, [{ attr: 0x0700_2000, code: 0x0002_0001 }], 'PAUSE')?.code).toBe(
      'HMS_0700_2000_0002_0001',
    );
    const verify = faultFromReport(0, [{ attr: 0x0500_0500, code: 0x0001_0007 }], 'IDLE');
    expect(verify?.message).toMatch(/LAN Only.*Developer Mode/);
  });
});

describe('command builders', () => {
  it('project_file carries the fields the firmware reads', () => {
    const cmd = projectFile({
      sequenceId: '9',
      fileName: 'cube.gcode.3mf',
      plate: 2,
      md5: 'abcdef0123456789abcdef0123456789',
      jobId: '123',
      jobName: 'cube',
      bedLeveling: true,
      flowCalibration: false,
      timelapse: false,
      model: 'P1S',
    });
    expect(cmd.type).toBe('print');
    expect(cmd.body).toMatchObject({
      command: 'project_file',
      param: 'Metadata/plate_2.gcode',
      url: 'ftp:///cube.gcode.3mf',
      file: 'cube.gcode.3mf',
      md5: 'ABCDEF0123456789ABCDEF0123456789',
      bed_leveling: true,
      flow_cali: false,
      timelapse: false,
      use_ams: false,
      task_id: '123',
      subtask_id: '123',
      subtask_name: 'cube',
      sequence_id: '9',
    });
    expect(cmd.body).not.toHaveProperty('bed_levelling');
    expect(projectFileUrl('cube.gcode.3mf', 'A1 mini')).toBe('file:///sdcard/cube.gcode.3mf');
    expect(gcodeLine('1', ['G28', 'M104 S0']).body.param).toBe('G28\nM104 S0\n');
    expect(isValidJobId('2147483648')).toBe(false);
    expect(isValidJobId('2147483647')).toBe(true);
    expect(isValidJobId('2147483646')).toBe(true);
    expect(isValidJobId('0')).toBe(false);
  });
});
