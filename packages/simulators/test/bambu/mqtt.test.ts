import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BambuSimulator } from '../../src/bambu/index.ts';
import { connectOptions, connectReports, isAck, isDelta, isFull, type ReportClient, tryConnect } from './helpers.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/MOCK-A1.json', import.meta.url), 'utf8'));

/** Recursively compares key sets and JSON value types; returns the mismatching paths. */
function shapeDiff(real: any, ours: any, path = 'print'): string[] {
  const kind = (v: any) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  if (kind(real) !== kind(ours)) return [`${path}: ${kind(real)} vs ${kind(ours)}`];
  if (kind(real) === 'array') {
    return real.length && ours.length ? shapeDiff(real[0], ours[0], `${path}[0]`) : [];
  }
  if (kind(real) !== 'object') return [];
  const out: string[] = [];
  const keys = new Set([...Object.keys(real), ...Object.keys(ours)]);
  for (const k of keys) {
    if (!(k in real)) out.push(`${path}.${k}: extra`);
    else if (!(k in ours)) out.push(`${path}.${k}: missing`);
    else out.push(...shapeDiff(real[k], ours[k], `${path}.${k}`));
  }
  return out;
}

describe('Bambu simulator MQTT', () => {
  const sim = new BambuSimulator({ model: 'A1', reportIntervalMs: 25, idleReportIntervalMs: 25 });
  let rc: ReportClient;

  beforeAll(async () => {
    await sim.start();
    rc = await connectReports(sim);
  });
  afterAll(async () => {
    await rc?.close();
    await sim.stop();
  });

  it('refuses a wrong access code with CONNACK 5 and a wrong user with 4', async () => {
    const bad = await tryConnect(connectOptions(sim, { password: 'wrong123' }));
    expect(bad.error?.code).toBe(5);
    const badUser = await tryConnect(connectOptions(sim, { username: 'admin' }));
    expect(badUser.error?.code).toBe(4);
  });

  it('refuses everyone while setRefuseAuth(true)', async () => {
    sim.setRefuseAuth(true);
    const r = await tryConnect(connectOptions(sim));
    sim.setRefuseAuth(false);
    expect(r.error?.code).toBe(5);
    const ok = await tryConnect(connectOptions(sim));
    expect(ok.error).toBeNull();
    await ok.client.endAsync(true);
  });

  it('presents a certificate whose CN is the serial, issued by the exposed CA', async () => {
    const wrongName = await tryConnect(connectOptions(sim, { servername: 'NOTTHESERIAL0001' }));
    expect(String(wrongName.error?.message ?? wrongName.error)).toMatch(/altnames|Hostname|NOTTHESERIAL/i);
    const noCa = await tryConnect(connectOptions(sim, { ca: undefined }));
    expect(noCa.error).not.toBeNull();
  });

  it('sends deltas without gcode_state before pushall, then a full report', async () => {
    const delta = await rc.waitFor(isDelta, 5000, 'idle delta');
    expect(delta.print.gcode_state).toBeUndefined();
    expect(typeof delta.print.sequence_id).toBe('string');
    expect(rc.messages.some(isFull)).toBe(false);

    await rc.request({ pushing: { sequence_id: '1', command: 'pushall' } });
    const full = await rc.waitFor(isFull, 5000, 'full report');
    expect(full.print.gcode_state).toBe('IDLE');
    expect(full.print.msg).toBe(0);
    expect(full.print.stg_cur).toBe(0); // A1 reports 0 at idle after boot
  });

  it('full report has the same keys and value types as the real A1 capture', async () => {
    await rc.request({ pushing: { sequence_id: '2', command: 'pushall' } });
    const full = await rc.waitFor((m) => isFull(m) && m.print.sequence_id !== undefined, 5000);
    expect(shapeDiff(fixture.pushall.print, full.print)).toEqual([]);
  });

  it('answers get_version on the info object', async () => {
    await rc.request({ info: { sequence_id: '77', command: 'get_version' } });
    const v = await rc.waitFor((m) => m.info?.command === 'get_version', 5000);
    expect(v.info.sequence_id).toBe('77');
    expect(v.info.result).toBe('success');
    const ota = v.info.module.find((m: any) => m.name === 'ota');
    expect(ota.sn).toBe(sim.serial);
    expect(ota.project_name).toBe('N2S');
  });

  it('acks commands echoing sequence_id, command and result', async () => {
    await rc.request({ print: { sequence_id: '901', command: 'gcode_line', param: 'M140 S55\n' } });
    const ack = await rc.waitFor(isAck('gcode_line', '901'), 5000);
    expect(ack.print.result).toBe('success');
    await rc.waitFor((m) => m.print?.bed_target_temper === 55, 5000, 'bed target delta');

    await rc.request({ print: { sequence_id: '902', command: 'pause' } });
    const nack = await rc.waitFor(isAck('pause', '902'), 5000);
    expect(nack.print.result).toBe('failed');
    expect(sim.receivedCommands.some((c) => c.print?.sequence_id === '902')).toBe(true);
  });

  it('rejects control commands with "mqtt message verify failed" in verify-failed mode', async () => {
    sim.setVerifyFailedMode(true);
    try {
      await rc.request({ print: { sequence_id: '903', command: 'stop', param: '' } });
      const ack = await rc.waitFor(isAck('stop', '903'), 5000);
      expect(ack.print.result).toBe('failed');
      expect(ack.print.reason).toBe('mqtt message verify failed');
      const hms = await rc.waitFor((m) => Array.isArray(m.print?.hms) && m.print.hms.length > 0, 5000, 'hms');
      expect(hms.print.hms).toContainEqual({ attr: 0x05000500, code: 0x00010007 });
      // Queries still work.
      await rc.request({ info: { sequence_id: '904', command: 'get_version' } });
      await rc.waitFor((m) => m.info?.sequence_id === '904', 5000);
    } finally {
      sim.setVerifyFailedMode(false);
      sim.clearError();
    }
  });

  it('setSilent stops publishing but keeps the connection', async () => {
    sim.setSilent(true);
    const before = rc.messages.length;
    await rc.request({ pushing: { sequence_id: '5', command: 'pushall' } });
    await new Promise((r) => setTimeout(r, 300));
    // Nothing answers the pushall (a delta already on the wire when silence began may still land).
    expect(rc.messages.slice(before).some(isFull)).toBe(false);
    expect(rc.messages.length - before).toBeLessThanOrEqual(2);
    expect(rc.client.connected).toBe(true);
    sim.setSilent(false);
    await rc.request({ pushing: { sequence_id: '6', command: 'pushall' } });
    await rc.waitFor((m) => isFull(m) && rc.messages.indexOf(m) >= before, 5000, 'full after unsilence');
  });

  it('dropConnections kills the client sockets', async () => {
    const other = await connectReports(sim);
    const closed = new Promise<void>((r) => other.client.once('close', () => r()));
    sim.dropConnections();
    await closed;
    expect(other.client.connected).toBe(false);
    await other.close();
    rc = await connectReports(sim);
  });
});
