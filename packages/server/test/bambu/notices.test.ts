/**
 * What counts as a printer error (issue 10): pure rules of errors.ts / state-map.ts, every member of
 * the kind — HMS while idle, printing, paused by the user, paused by the printer, failed; listed and
 * unlisted; print_error prompts; verify-failed; gcode_state values the driver does not know.
 */
import { describe, expect, it } from 'vitest';
import { assessReport, hmsNotice, isListedHms } from '../../src/printers/bambu/errors.ts';
import { hmsCatalogText } from '../../src/printers/bambu/hms-catalog.ts';
import type { BambuReport, HmsEntry } from '../../src/printers/bambu/report.ts';
import { buildState, type DriverView } from '../../src/printers/bambu/state-map.ts';

const UNLISTED: HmsEntry = { attr: 0x0500_0600, code: 0x0002_0070 }; // case bambu-hms-unlisted
const FIRST_LAYER: HmsEntry = { attr: 0x0c00_0300, code: 0x0002_0004 }; // case bambu-hms-notice-while-printing
const RUNOUT: HmsEntry = { attr: 0x0700_2000, code: 0x0002_0001 }; // AMS 1 slot 1 ran out (serious, listed)
const HEATBED: HmsEntry = { attr: 0x0300_0100, code: 0x0001_0007 }; // fatal, listed
const UNLISTED_FATAL: HmsEntry = { attr: 0x0500_0600, code: 0x0001_0071 };
const VERIFY: HmsEntry = { attr: 0x0500_0500, code: 0x0001_0007 };

const assess = (gcodeState: string, o: { hms?: HmsEntry[]; printError?: number; stgCur?: number | null } = {}) =>
  assessReport({ gcodeState, hms: o.hms ?? [], printError: o.printError ?? 0, stgCur: o.stgCur ?? null });

describe('HMS list membership and texts', () => {
  it('knows the case codes: 0C00_0300_0002_0004 is listed, 0500_0600_0002_0070 is not', () => {
    expect(isListedHms(FIRST_LAYER)).toBe(true);
    expect(isListedHms(UNLISTED)).toBe(false);
    expect(hmsCatalogText('0C00_0300_0002_0004')).toEqual({
      en: 'First-layer inspection is not supported for this print job',
      zh: '本次打印任务不支持首层检测',
    });
  });

  it('AMS and AMS Lite entries follow one scheme per unit and slot', () => {
    expect(hmsCatalogText('0700_2000_0002_0001')?.en).toBe('AMS 1 slot 1 filament has run out');
    expect(hmsCatalogText('0703_2300_0002_0001')?.en).toBe('AMS 4 slot 4 filament has run out');
    expect(hmsCatalogText('0701_6200_0002_0001')?.zh).toBe('AMS 2 槽位 3 过载：耗材可能缠绕或料盘卡住');
    expect(hmsCatalogText('1200_8100_0002_0001')?.en).toBe('AMS Lite 1 slot 2 filament may be tangled or stuck');
    expect(hmsCatalogText('0704_2000_0002_0001')).toBeNull(); // there is no fifth AMS
    expect(hmsCatalogText('0700_2400_0002_0001')).toBeNull(); // nor a fifth slot
    expect(hmsCatalogText('0700_2000_0002_0009')).toBeNull();
  });

  it('a notice: warning with the listed text, note (info) naming the code for an unlisted entry', () => {
    expect(hmsNotice(FIRST_LAYER)).toMatchObject({
      level: 'warning',
      code: 'HMS_0C00_0300_0002_0004',
      params: { hms: '0C00_0300_0002_0004', severity: 'serious', listed: true },
      url: 'https://wiki.bambulab.com/en/x1/troubleshooting/hmscode/0C00_0300_0002_0004',
    });
    const note = hmsNotice(UNLISTED);
    expect(note).toMatchObject({ level: 'info', code: 'HMS_0500_0600_0002_0070', params: { listed: false } });
    expect(note.messages?.en).toContain('not in Bambu');
    expect(note.messages?.zh).toContain('不在拓竹 HMS 列表中');
  });
});

describe('error only when the printer stopped', () => {
  it('HMS entries while idle, preparing or printing are notices, whatever their severity', () => {
    for (const state of ['IDLE', 'FINISH', 'PREPARE', 'RUNNING']) {
      for (const hms of [[UNLISTED], [FIRST_LAYER], [RUNOUT], [HEATBED], [UNLISTED_FATAL]]) {
        const a = assess(state, { hms });
        expect(a.error, `${state} ${JSON.stringify(hms)}`).toBeNull();
        expect(a.notices).toHaveLength(1);
      }
    }
  });

  it('PAUSE or FAILED with a listed fatal/serious HMS is an error (the cause is not repeated as a notice)', () => {
    const a = assess('PAUSE', { hms: [RUNOUT, UNLISTED], stgCur: 6 });
    expect(a.error?.code).toBe('HMS_0700_2000_0002_0001');
    expect(a.notices.map((n) => n.code)).toEqual(['HMS_0500_0600_0002_0070']);
    expect(assess('FAILED', { hms: [HEATBED] }).error?.code).toBe('HMS_0300_0100_0001_0007');
  });

  it('an unlisted entry is never the cause of a stop: a user pause with it stays paused, no error', () => {
    const a = assess('PAUSE', { hms: [UNLISTED_FATAL], stgCur: 16 });
    expect(a.error).toBeNull();
    expect(a.notices[0]).toMatchObject({ level: 'info' });
  });

  it('PAUSE by the user (stg 16), by G-code (30) or M400 (5) is no error; a printer-caused pause stage is', () => {
    for (const stg of [16, 30, 5, null]) expect(assess('PAUSE', { stgCur: stg }).error).toBeNull();
    const clog = assess('PAUSE', { stgCur: 35 }).error;
    expect(clog).toMatchObject({ code: 'printer_paused_fault', params: { stage: 35 } });
    expect(clog?.messages).toEqual({ en: 'Paused: nozzle clog', zh: '打印机喷嘴堵塞而暂停' });
    expect(assess('PAUSE', { stgCur: 6 }).error?.messages?.en).toBe('Paused: filament runout');
  });

  it('print_error ≠ 0 (a real fault) is an error at any time; status codes, cancel echoes and idle prompts are not', () => {
    expect(assess('RUNNING', { printError: 0x0300_8015 }).error?.code).toBe('0300_8015');
    expect(assess('PAUSE', { printError: 0x0300_8015 }).error?.code).toBe('0300_8015');
    expect(assess('FAILED', { printError: 0x0700_4001 }).error?.code).toBe('0700_4001');
    expect(assess('IDLE', { printError: 0x0500_4004 }).error?.code).toBe('0500_4004');
    expect(assess('FAILED', { printError: 0x0300_400c })).toEqual({ error: null, notices: [] }); // cancel echo
    expect(assess('RUNNING', { printError: 0x0300_0002 })).toEqual({ error: null, notices: [] }); // status indicator
    const prompt = assess('FINISH', { printError: 0x0500_c011 }); // P1S SD advisory at FINISH
    expect(prompt.error).toBeNull();
    expect(prompt.notices).toEqual([expect.objectContaining({ level: 'warning', code: '0500_C011' })]);
    expect(assess('FAILED', {}).error).toBeNull(); // a failed job without a cause: idle, lastJob says failed
  });

  it('verify-failed closes a ready printer (error) but only warns while a job runs', () => {
    expect(assess('IDLE', { hms: [VERIFY] }).error?.code).toBe('verify_failed');
    const running = assess('RUNNING', { hms: [VERIFY] });
    expect(running.error).toBeNull();
    expect(running.notices).toEqual([expect.objectContaining({ level: 'warning', code: 'verify_failed' })]);
    expect(assessReport({ gcodeState: 'FINISH', hms: [], printError: 0, stgCur: 255 }, { verifyFailed: true }).error?.code).toBe(
      'verify_failed',
    );
  });
});

const base: BambuReport = {
  gcodeState: 'IDLE',
  stgCur: 255,
  percent: 0,
  remainingMinutes: 0,
  layerNum: 0,
  totalLayerNum: 0,
  nozzle: 25,
  nozzleTarget: 0,
  bed: 25,
  bedTarget: 0,
  chamber: null,
  chamberTarget: null,
  printError: 0,
  hms: [],
  subtaskId: '0',
  taskId: '0',
  subtaskName: '',
  gcodeFile: '',
  wifiDbm: -50,
  sdcard: true,
  nozzleDiameter: 0.4,
};

const view = (report: Partial<BambuReport>, o: Partial<DriverView> = {}): DriverView => ({
  link: 'connected',
  fullStatus: true,
  stale: false,
  report: { ...base, ...report },
  lastJob: null,
  connectionNote: null,
  driverError: null,
  updatedAt: 1,
  platesByJobId: new Map(),
  hideChamber: false,
  ...o,
});

describe('gcode_state values the driver does not know', () => {
  it('are unknown (never idle) with a warning that names the value', () => {
    for (const value of ['CALIBRATING', 'SLEEP', 'idle_v2', '']) {
      const s = buildState(view({ gcodeState: value || null }));
      expect(s.status, value).toBe('unknown');
      expect(s.notices, value).toEqual([
        expect.objectContaining({
          level: 'warning',
          code: 'printer_state_unknown',
          params: { state: value || '(none)', field: 'gcode_state' },
        }),
      ]);
    }
  });

  it('the whitelisted INIT / OFFLINE / UNKNOWN are unknown without a notice; known states map as before', () => {
    for (const value of ['INIT', 'OFFLINE', 'UNKNOWN']) {
      const s = buildState(view({ gcodeState: value }));
      expect(s.status).toBe('unknown');
      expect(s.notices).toEqual([]);
    }
    expect(buildState(view({ gcodeState: 'RUNNING', stgCur: 0 })).status).toBe('printing');
    expect(buildState(view({ gcodeState: 'SLICING' })).status).toBe('preparing');
  });

  it('the state carries what the printer reported about itself', () => {
    const s = buildState(view({}, { reported: { model: 'A1 mini', nozzleDiameter: 0.4, firmware: '01.08.00.00' } }));
    expect(s.reported).toEqual({ model: 'A1 mini', nozzleDiameter: 0.4, firmware: '01.08.00.00' });
  });
});
