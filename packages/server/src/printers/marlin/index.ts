import { MarlinSimulator, type MarlinSimulatorOptions } from '@rwc/simulators/marlin/index.ts';
import { ValidationError } from '../../errors.ts';
import type { CapabilityRegistry } from '../../registry/capabilities.ts';
import type { PrinterDriverCapability } from '../driver.ts';
import { connectionToRecord, parseMarlinConnection } from './connection.ts';
import { MarlinDriver } from './driver.ts';
import { SimulatedPrinterDriver } from './simulated-driver.ts';

export { MarlinDriver } from './driver.ts';
export { parseMarlinConnection, type MarlinConnection } from './connection.ts';

export const marlinDriverCapability: PrinterDriverCapability = {
  validateConnection(connection) {
    return connectionToRecord(connection as Record<string, unknown>);
  },
  secretFields: [],
  fileKinds: ['gcode'],
  create: (ctx) => new MarlinDriver(ctx),
};

const SIM_NUMBERS = ['baudRate', 'bufferSize', 'latencyMs'] as const;

/**
 * Simulator settings from a simulated-marlin connection. `timeScale` there is a speed-up factor
 * (simulated seconds per real second, as for simulated-bambu: 30 = thirty times faster); the
 * simulator class itself takes the inverse (real seconds per simulated second).
 */
function simulatorOptions(c: Record<string, unknown>): MarlinSimulatorOptions {
  const opts: MarlinSimulatorOptions = { timeScale: 1 / 20 };
  for (const k of SIM_NUMBERS) {
    const v = c[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ValidationError(`connection.${k}`, 'must be a number ≥ 0');
    opts[k] = v;
  }
  if (c.timeScale !== undefined) {
    const v = c.timeScale;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ValidationError('connection.timeScale', 'must be a number > 0');
    opts.timeScale = 1 / v;
  }
  if (c.advancedOk !== undefined) {
    if (typeof c.advancedOk !== 'boolean') throw new ValidationError('connection.advancedOk', 'must be true or false');
    opts.advancedOk = c.advancedOk;
  }
  return opts;
}

const liveMarlinSims = new Set<SimulatedPrinterDriver<MarlinSimulator>>();

/** A Marlin simulator started in-process (TCP on 127.0.0.1), driven by the real MarlinDriver. */
export const simulatedMarlinCapability: PrinterDriverCapability = {
  validateConnection(connection) {
    const c = (connection ?? {}) as Record<string, unknown>;
    if (typeof c !== 'object') throw new ValidationError('connection', 'must be an object');
    simulatorOptions(c);
    parseMarlinConnection({ ...c, url: 'tcp://127.0.0.1:1' });
    const { url: _url, path: _path, ...rest } = c;
    return rest;
  },
  secretFields: [],
  fileKinds: ['gcode'],
  create: (ctx) =>
    new SimulatedPrinterDriver(
      ctx,
      () => new MarlinSimulator(simulatorOptions(ctx.connection)),
      (c, sim) => new MarlinDriver({ ...c, connection: { ...c.connection, url: sim.url } }),
      liveMarlinSims,
    ),
  async shutdown() {
    for (const d of [...liveMarlinSims]) await d.stop();
  },
};

export function registerMarlin(registry: CapabilityRegistry): void {
  registry.register('printer-driver', 'marlin', marlinDriverCapability);
  registry.register('printer-driver', 'simulated-marlin', simulatedMarlinCapability);
}
