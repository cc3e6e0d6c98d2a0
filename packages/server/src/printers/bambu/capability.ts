/**
 * Registry entries: `bambu` (a real printer on the LAN) and `simulated-bambu` (an in-process
 * BambuSimulator driven by the very same driver over its real TLS sockets, trusting its CA).
 */

import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { ValidationError } from '../../errors.ts';
import type { CapabilityRegistry } from '../../registry/capabilities.ts';
import type { DriverContext, PrinterDriver, PrinterDriverCapability } from '../driver.ts';
import { initialPrinterState } from '../model.ts';
import { parseBambuConnection } from './connection.ts';
import { BambuDriver, type BambuDriverOptions } from './driver.ts';

export const bambuDriverCapability: PrinterDriverCapability = {
  validateConnection: (connection) => ({ ...parseBambuConnection(connection) }),
  secretFields: ['accessCode'],
  deviceFields: ['host', 'serial', 'mqttPort', 'ftpsPort', 'cameraPort', 'insecureTls', 'caCertPem'],
  fileKinds: ['3mf'],
  create: (ctx) => new BambuDriver(ctx),
};

const SIM_MODELS = ['A1', 'A1 mini', 'P1P', 'P1S', 'X1C'] as const;
type SimModel = (typeof SIM_MODELS)[number];

function simModel(value: unknown, field: string): SimModel | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const found = SIM_MODELS.find((m) => m.toLowerCase() === String(value).trim().toLowerCase());
  if (!found) throw new ValidationError(field, `must be one of ${SIM_MODELS.join(', ')}`);
  return found;
}

function positive(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !(value > 0)) throw new ValidationError(field, 'must be a positive number');
  return value;
}

/** The simulator settings accepted in `connection` for `simulated-bambu`. */
export interface SimulatedBambuConnection {
  model?: SimModel;
  timeScale?: number;
  printSeconds?: number;
  serial?: string;
  accessCode?: string;
}

function parseSimConnection(input: unknown): SimulatedBambuConnection {
  const c = (typeof input === 'object' && input !== null && !Array.isArray(input) ? input : {}) as Record<
    string,
    unknown
  >;
  const out: SimulatedBambuConnection = {};
  const model = simModel(c.model, 'connection.model');
  if (model) out.model = model;
  const timeScale = positive(c.timeScale, 'connection.timeScale');
  if (timeScale !== undefined) out.timeScale = timeScale;
  const printSeconds = positive(c.printSeconds, 'connection.printSeconds');
  if (printSeconds !== undefined) out.printSeconds = printSeconds;
  for (const key of ['serial', 'accessCode'] as const) {
    const v = c[key];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string' || !/^[A-Za-z0-9]+$/.test(v))
      throw new ValidationError(`connection.${key}`, 'letters and digits only');
    out[key] = v;
  }
  return out;
}

/** Starts a simulator lazily in start(); stop() stops the driver, then the simulator. */
class SimulatedBambuDriver implements PrinterDriver {
  readonly announcesStartCommand = true;
  #sim: BambuSimulator;
  #driver: BambuDriver | null = null;
  readonly #ctx: DriverContext;
  readonly #options: BambuDriverOptions;

  constructor(ctx: DriverContext, options: BambuDriverOptions) {
    this.#ctx = ctx;
    this.#options = options;
    const sim = parseSimConnection(ctx.connection);
    this.#sim = new BambuSimulator({
      host: '127.0.0.1',
      mqttPort: 0,
      ftpsPort: 0,
      cameraPort: 0,
      ...sim,
      model: sim.model ?? simModel(ctx.model, 'model') ?? 'A1',
    });
  }

  get simulator(): BambuSimulator {
    return this.#sim;
  }

  #real(): BambuDriver {
    if (!this.#driver) throw new Error('simulated bambu printer is not started');
    return this.#driver;
  }

  async start(): Promise<void> {
    await this.#sim.start();
    const s = this.#sim;
    this.#driver = new BambuDriver(
      {
        ...this.#ctx,
        model: this.#ctx.model ?? s.model,
        connection: s.connectionInfo(),
      },
      this.#options,
    );
    await this.#driver.start();
  }

  async stop(): Promise<void> {
    await this.#driver?.stop();
    await this.#sim.stop();
  }

  getState() {
    return this.#driver?.getState() ?? initialPrinterState();
  }

  startJob: PrinterDriver['startJob'] = (req) => this.#real().startJob(req);
  pause = () => this.#real().pause();
  resume = () => this.#real().resume();
  cancel = () => this.#real().cancel();
  sendGcode = (lines: string[]) => this.#real().sendGcode(lines);
  setLight = (on: boolean) => this.#real().setLight(on);
  setFan = (percent: number) => this.#real().setFan(percent);
  snapshot = () => this.#real().snapshot();
  clearError = () => this.#real().clearError();
  trustCertificate = (fingerprint256: string) => this.#real().trustCertificate(fingerprint256);
}

export function createSimulatedBambuDriver(ctx: DriverContext, options: BambuDriverOptions = {}): SimulatedBambuDriver {
  return new SimulatedBambuDriver(ctx, options);
}

export const simulatedBambuCapability: PrinterDriverCapability = {
  validateConnection: (connection) => ({ ...parseSimConnection(connection) }),
  // The simulator's access code is a secret like a real one: encrypted at rest, never returned.
  secretFields: ['accessCode'],
  fileKinds: ['3mf'],
  create: (ctx) => createSimulatedBambuDriver(ctx),
};

export function registerBambu(registry: CapabilityRegistry): void {
  registry.register('printer-driver', 'bambu', bambuDriverCapability);
  registry.register('printer-driver', 'simulated-bambu', simulatedBambuCapability);
}
