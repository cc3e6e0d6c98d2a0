import { describe, expect, it } from 'vitest';
import { parseByteRange } from '../../src/agents/byte-range.ts';
import { parseTopic } from '../../src/agents/protocol.ts';
import { mergeTelemetry, sanitizeState, shiftTimes, significantKey, telemetryDelta } from '../../src/agents/wire-state.ts';
import { roleAllows } from '../../src/auth/roles.ts';
import { loadConfig } from '../../src/config/config.ts';
import { tempDir } from '../helpers/server.ts';
import { initialPrinterState } from '../../src/printers/model.ts';

describe('roles', () => {
  it('keeps admin ⊇ operator ⊇ viewer and puts agent outside the chain', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'viewer')).toBe(true);
    expect(roleAllows('viewer', 'operator')).toBe(false);
    for (const r of ['viewer', 'operator', 'admin'] as const) {
      expect(roleAllows('agent', r)).toBe(false);
      expect(roleAllows(r, 'agent')).toBe(false);
    }
    expect(roleAllows('agent', 'agent')).toBe(true);
  });
});

describe('agent wire states', () => {
  it('never reads an unexpected status as ready', () => {
    const s = sanitizeState({ status: 'ready', fullStatus: true, stale: false });
    expect(s.status).toBe('unknown');
    expect(s.fullStatus).toBe(false);
    expect(s.notices).toMatchObject([{ code: 'agent_unknown_status' }]);
    expect(sanitizeState('garbage').status).toBe('unknown');
  });

  it('keeps valid fields and drops malformed ones', () => {
    const s = sanitizeState({
      status: 'printing',
      fullStatus: true,
      progress: 42,
      temperatures: { nozzle: { actual: 210, target: 220 }, 'bad name!': { actual: 1, target: 2 }, bed: { actual: 'hot' } },
      lastJob: { jobId: '7', outcome: 'exploded', at: 5 },
      job: { jobId: '8', fileName: 'a.3mf', plate: 1 },
      error: null,
    });
    expect(s).toMatchObject({ status: 'printing', fullStatus: true, progress: 42, temperatures: { nozzle: { actual: 210, target: 220 } }, lastJob: null, job: { jobId: '8' } });
    expect(Object.keys(s.temperatures)).toEqual(['nozzle']);
  });

  it('splits events from telemetry and shifts times to the server clock', () => {
    const a = { ...initialPrinterState(), status: 'printing' as const, progress: 10, updatedAt: 1000 };
    const b = { ...a, progress: 11, updatedAt: 2000 };
    expect(significantKey(a)).toBe(significantKey(b));
    expect(telemetryDelta(a, b)).toEqual({ progress: 11, updatedAt: 2000 });
    expect(telemetryDelta(b, b)).toBeNull();
    expect(significantKey({ ...b, status: 'paused' })).not.toBe(significantKey(b));
    const ended = { ...b, lastJob: { jobId: '1', outcome: 'finished' as const, at: 5000 } };
    expect(shiftTimes(ended, 250)).toMatchObject({ updatedAt: 2250, lastJob: { at: 5250 } });
    expect(mergeTelemetry(a, { progress: 'x', layer: { current: 2, total: 9 } })).toMatchObject({ progress: null, layer: { current: 2, total: 9 }, status: 'printing' });
  });
});

describe('topics and ranges', () => {
  it('parses only the agent namespace', () => {
    expect(parseTopic('rwc/agents/abc-1/up/event')).toEqual({ agentId: 'abc-1', dir: 'up', name: 'event' });
    expect(parseTopic('rwc/agents/abc/down/estop')).toEqual({ agentId: 'abc', dir: 'down', name: 'estop' });
    expect(parseTopic('rwc/agents/+/up/event')).toBeNull();
    expect(parseTopic('rwc/agents/abc/up/other')).toBeNull();
    expect(parseTopic('device/123/report')).toBeNull();
  });

  it('reads single byte ranges', () => {
    expect(parseByteRange(undefined, 100)).toBeNull();
    expect(parseByteRange('bytes=10-', 100)).toEqual({ start: 10, end: 99 });
    expect(parseByteRange('bytes=10-19', 100)).toEqual({ start: 10, end: 19 });
    expect(parseByteRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseByteRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseByteRange('bytes=0-1,5-6', 100)).toBeNull();
  });
});

describe('agent settings', () => {
  it('reads the external broker, dynamic security and the command TTL, with clear errors', () => {
    const cwd = tempDir();
    expect(loadConfig({}, cwd)).toMatchObject({ mqttUrl: null, mqttDynsec: false, agentCommandTtlSeconds: 60 });
    expect(loadConfig({ RWC_MQTT_URL: 'mqtts://u:p@broker:8883', RWC_MQTT_DYNSEC: '1', RWC_AGENT_COMMAND_TTL: '300' }, cwd)).toMatchObject({
      mqttUrl: 'mqtts://u:p@broker:8883',
      mqttDynsec: true,
      agentCommandTtlSeconds: 300,
    });
    expect(() => loadConfig({ RWC_MQTT_URL: 'http://u:secret@broker' }, cwd)).toThrow(/^RWC_MQTT_URL must look like mqtt:\/\/host:1883.*u:\*\*\*@broker/);
    expect(() => loadConfig({ RWC_MQTT_DYNSEC: '1' }, cwd)).toThrow(/RWC_MQTT_DYNSEC needs RWC_MQTT_URL/);
    expect(() => loadConfig({ RWC_AGENT_COMMAND_TTL: '1' }, cwd)).toThrow(/RWC_AGENT_COMMAND_TTL must be a whole number from 5/);
  });
});
