import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { marlinDriverCapability, registerMarlin, simulatedMarlinCapability } from '../../src/printers/marlin/index.ts';
import { CapabilityRegistry } from '../../src/registry/capabilities.ts';
import { jobRequest, makeCtx, segments, until, writeGcode } from './helpers.ts';

function fieldOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).field;
  }
}

describe('Marlin capabilities', () => {
  afterEach(async () => {
    await simulatedMarlinCapability.shutdown?.();
  });

  it('validates connections and names the bad field', () => {
    const v = marlinDriverCapability.validateConnection;
    expect(v({ path: '/dev/ttyUSB0' })).toEqual({ path: '/dev/ttyUSB0', baudRate: 115200 });
    expect(v({ path: '/dev/ttyACM0', baudRate: 250000 })).toMatchObject({ baudRate: 250000 });
    expect(v({ url: 'tcp://127.0.0.1:2000' })).toEqual({ url: 'tcp://127.0.0.1:2000' });
    expect(fieldOf(() => v({}))).toBe('connection.path');
    expect(fieldOf(() => v({ url: 'http://x:1' }))).toBe('connection.url');
    expect(fieldOf(() => v({ url: 'tcp://x:70000' }))).toBe('connection.url');
    expect(fieldOf(() => v({ path: '/dev/x', baudRate: -1 }))).toBe('connection.baudRate');
    expect(fieldOf(() => v({ path: '/dev/x', printFrom: 'usb' }))).toBe('connection.printFrom');
    expect(fieldOf(() => v({ path: '/dev/x', pauseGcode: [1] }))).toBe('connection.pauseGcode');
    expect(fieldOf(() => simulatedMarlinCapability.validateConnection({ baudRate: 'fast' }))).toBe('connection.baudRate');
    expect(fieldOf(() => simulatedMarlinCapability.validateConnection({ timeScale: 0 }))).toBe('connection.timeScale');
    expect(simulatedMarlinCapability.validateConnection({ timeScale: 30 })).toEqual({ timeScale: 30 }); // the demo fleet's
    expect(marlinDriverCapability.secretFields).toEqual([]);
  });

  it('registers marlin and simulated-marlin as printer drivers', () => {
    const registry = new CapabilityRegistry();
    registerMarlin(registry);
    expect(registry.get('printer-driver', 'marlin')).toBe(marlinDriverCapability);
    expect(registry.get('printer-driver', 'simulated-marlin')).toBe(simulatedMarlinCapability);
  });

  it('simulated-marlin starts its simulator and prints over the socket', async () => {
    const h = makeCtx(simulatedMarlinCapability.validateConnection({ advancedOk: true, baudRate: 250000, timeScale: 1000 }));
    const driver = simulatedMarlinCapability.create(h.ctx);
    await driver.start();
    await until(() => h.last()?.status === 'idle', 10_000, 'idle');
    await driver.startJob(jobRequest(writeGcode(segments(50)), '3'));
    await until(() => h.last().lastJob?.outcome === 'finished', 10_000, 'finish');
    await simulatedMarlinCapability.shutdown?.();
    await until(() => h.last().status === 'offline', 5000, 'offline');
  });
});
