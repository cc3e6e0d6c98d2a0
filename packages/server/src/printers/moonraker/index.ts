import { MoonrakerSimulator, type MoonrakerSimulatorOptions } from '@rwc/simulators/moonraker/index.ts';
import { ValidationError } from '../../errors.ts';
import type { CapabilityRegistry } from '../../registry/capabilities.ts';
import type { PrinterDriverCapability } from '../driver.ts';
import { SimulatedPrinterDriver } from '../marlin/simulated-driver.ts';
import { parseMoonrakerConnection } from './connection.ts';
import { MoonrakerDriver } from './driver.ts';

export { MoonrakerDriver } from './driver.ts';
export { parseMoonrakerConnection, type MoonrakerConnection } from './connection.ts';

export const moonrakerDriverCapability: PrinterDriverCapability = {
  validateConnection(connection) {
    const parsed = parseMoonrakerConnection(connection);
    const out: Record<string, unknown> = { ...(connection as Record<string, unknown>), url: parsed.url };
    if (parsed.apiKey === null) delete out.apiKey;
    return out;
  },
  secretFields: ['apiKey'],
  deviceFields: ['url', 'auth'],
  fileKinds: ['gcode'],
  create: (ctx) => new MoonrakerDriver(ctx),
};

/**
 * Simulator settings from a simulated-moonraker connection. `timeScale` there is a speed-up factor
 * (simulated seconds per real second, as for simulated-bambu); the simulator class takes the inverse.
 */
function simulatorOptions(c: Record<string, unknown>): MoonrakerSimulatorOptions {
  const opts: MoonrakerSimulatorOptions = { timeScale: 1 / 10, printSeconds: 600 };
  for (const k of ['timeScale', 'printSeconds'] as const) {
    const v = c[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ValidationError(`connection.${k}`, 'must be a number > 0');
    opts[k] = k === 'timeScale' ? 1 / v : v;
  }
  if (c.apiKey !== undefined) {
    if (typeof c.apiKey !== 'string' || !c.apiKey) throw new ValidationError('connection.apiKey', 'must be a non-empty string');
    opts.apiKey = c.apiKey;
  }
  return opts;
}

const liveMoonrakerSims = new Set<SimulatedPrinterDriver<MoonrakerSimulator>>();

/** A Moonraker simulator started in-process (HTTP + WebSocket on 127.0.0.1), driven by the real MoonrakerDriver. */
export const simulatedMoonrakerCapability: PrinterDriverCapability = {
  validateConnection(connection) {
    const c = (connection ?? {}) as Record<string, unknown>;
    if (typeof c !== 'object') throw new ValidationError('connection', 'must be an object');
    simulatorOptions(c);
    const { url: _url, ...rest } = c;
    return rest;
  },
  secretFields: ['apiKey'],
  fileKinds: ['gcode'],
  create: (ctx) =>
    new SimulatedPrinterDriver(
      ctx,
      () => new MoonrakerSimulator(simulatorOptions(ctx.connection)),
      (c, sim) => new MoonrakerDriver({ ...c, connection: { ...c.connection, url: sim.url } }),
      liveMoonrakerSims,
    ),
  async shutdown() {
    for (const d of [...liveMoonrakerSims]) await d.stop();
  },
};

export function registerMoonraker(registry: CapabilityRegistry): void {
  registry.register('printer-driver', 'moonraker', moonrakerDriverCapability);
  registry.register('printer-driver', 'simulated-moonraker', simulatedMoonrakerCapability);
}
