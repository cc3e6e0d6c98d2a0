import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { moonrakerDriverCapability, registerMoonraker, simulatedMoonrakerCapability } from '../../src/printers/moonraker/index.ts';
import { mapStatus, mergeStatus } from '../../src/printers/moonraker/state-map.ts';
import { CapabilityRegistry } from '../../src/registry/capabilities.ts';
import { jobRequest, makeCtx, until, writeGcode } from '../marlin/helpers.ts';
import fs from 'node:fs';
import path from 'node:path';

const examples = JSON.parse(
  fs.readFileSync(path.resolve(import.meta.dirname, '../../../../../shared/fixtures/octo/moonraker-examples.json'), 'utf8'),
);

function fieldOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).field;
  }
}

describe('Moonraker capabilities and status mapping', () => {
  afterEach(async () => {
    await simulatedMoonrakerCapability.shutdown?.();
  });

  it('validates connections and keeps apiKey secret', () => {
    const v = moonrakerDriverCapability.validateConnection;
    expect(v({ url: 'http://127.0.0.1:7125/', apiKey: 'abc' })).toEqual({ url: 'http://127.0.0.1:7125', apiKey: 'abc' });
    expect(fieldOf(() => v({}))).toBe('connection.url');
    expect(fieldOf(() => v({ url: 'ftp://x' }))).toBe('connection.url');
    expect(fieldOf(() => v({ url: 'http://x', apiKey: 5 }))).toBe('connection.apiKey');
    expect(fieldOf(() => v({ url: 'http://x', auth: 'basic' }))).toBe('connection.auth');
    expect(moonrakerDriverCapability.secretFields).toEqual(['apiKey']);
    const registry = new CapabilityRegistry();
    registerMoonraker(registry);
    expect(registry.get('printer-driver', 'moonraker')).toBe(moonrakerDriverCapability);
    expect(registry.get('printer-driver', 'simulated-moonraker')).toBe(simulatedMoonrakerCapability);
  });

  it('merges notify_status_update deltas from the documented examples', () => {
    const full = examples['printer.objects.subscribe result'].status;
    const delta = examples.notify_status_update.params[0];
    const merged = mergeStatus(full, { ...delta, gcode_move: { speed: 3000 } });
    expect(merged.gcode_move.speed).toBe(3000);
    expect(merged.gcode_move.speed_factor).toBe(1); // untouched fields survive
    expect(merged.toolhead).toEqual({ position: [0, 0, 0, 0], status: 'Ready' });
  });

  it('maps print_stats / webhooks states into the printer model', () => {
    const base = { print_stats: examples['print_stats object'], virtual_sdcard: examples['virtual_sdcard object'] };
    expect(mapStatus({ ...base, webhooks: { state: 'ready' } }, 'ready').status).toBe('idle');
    expect(mapStatus({ ...base, webhooks: examples['webhooks object'] }, 'startup').status).toBe('connecting');
    const printing = mapStatus(
      {
        webhooks: { state: 'ready' },
        print_stats: { state: 'printing', print_duration: 100, info: { total_layer: 50, current_layer: 10 } },
        virtual_sdcard: { progress: 0.25 },
        extruder: { temperature: 210.5, target: 210 },
        heater_bed: { temperature: 60, target: 60 },
      },
      'ready',
    );
    expect(printing).toMatchObject({ status: 'printing', progress: 25, remainingSeconds: 300, layer: { current: 10, total: 50 } });
    expect(printing.temperatures).toEqual({ nozzle: { actual: 210.5, target: 210 }, bed: { actual: 60, target: 60 } });
    const paused = mapStatus({ webhooks: { state: 'ready' }, print_stats: { state: 'paused' } }, 'ready');
    expect(paused.status).toBe('paused');
    for (const s of ['complete', 'cancelled', 'standby']) {
      expect(mapStatus({ webhooks: { state: 'ready' }, print_stats: { state: s } }, 'ready').status).toBe('idle');
    }
    const failed = mapStatus({ webhooks: { state: 'ready' }, print_stats: { state: 'error', message: 'Move out of range' } }, 'ready');
    expect(failed).toMatchObject({ status: 'error', error: { code: 'print_error', message: 'Move out of range' } });
    const shut = mapStatus({ webhooks: { state: 'shutdown', state_message: 'MCU lost' } }, 'shutdown');
    expect(shut).toMatchObject({ status: 'error', error: { code: 'klippy_shutdown', message: 'MCU lost' } });
    expect(examples['print_stats states']).toEqual(['standby', 'printing', 'paused', 'complete', 'error', 'cancelled']);
  });

  it('simulated-moonraker starts its simulator and prints through it', async () => {
    const h = makeCtx(simulatedMoonrakerCapability.validateConnection({ apiKey: 'k', timeScale: 50, printSeconds: 5 }));
    const driver = simulatedMoonrakerCapability.create(h.ctx);
    await driver.start();
    await until(() => h.last()?.status === 'idle', 5000, 'idle');
    await driver.startJob(jobRequest(writeGcode(['G28']), '6'));
    await until(() => h.last().lastJob?.outcome === 'finished', 10_000, 'finish');
  });
});

describe('our upload names carry the queue job id', () => {
  it('parses rwc/<jobId>-<name> and ignores other files', async () => {
    const { parseRemoteName } = await import('../../src/printers/moonraker/driver.ts');
    expect(parseRemoteName('rwc/448658356-demo-tower.gcode')).toEqual({ jobId: '448658356', name: 'demo-tower.gcode' });
    expect(parseRemoteName('benchy.gcode')).toBeNull();
    expect(parseRemoteName('rwc/notanumber-x.gcode')).toBeNull();
    expect(parseRemoteName(undefined)).toBeNull();
  });
});
