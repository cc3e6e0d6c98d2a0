/**
 * The printers beside the agent, run by the very drivers the server uses (imported from
 * @rwc/server through the same capability registry): each keeps its full state machine here, so a
 * print goes on — and ends, and is recorded — while the link to the server is down.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AgentPrinterInfo } from '@rwc/server/agents/protocol.ts';
import { AGENT_PRINTER_ID_PATTERN } from '@rwc/server/agents/protocol.ts';
import { EventBus } from '@rwc/server/events/bus.ts';
import type { PrinterDriver, PrinterDriverCapability } from '@rwc/server/printers/driver.ts';
import { type PrinterState, defaultPrinterSettings } from '@rwc/server/printers/model.ts';
import type { CapabilityRegistry } from '@rwc/server/registry/capabilities.ts';
import type { Clock } from '@rwc/server/util/clock.ts';
import type { Logger } from '@rwc/server/util/logger.ts';

/** One printer in the agent's configuration file (`agent.json`: `{"printers": [...]}`). */
export interface AgentPrinterConfig {
  /** Stable id on this agent (letters, digits, `_.-`); the server maps it to a fleet printer. */
  id: string;
  name: string;
  /** A printer driver kind: bambu, marlin, moonraker, simulated-bambu, simulated-marlin, simulated-moonraker. */
  driver: string;
  model?: string | null;
  /** As for POST /api/v1/printers (secrets stay on this machine). */
  connection: Record<string, unknown>;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Checks the `printers` list of an agent configuration; throws ConfigError naming the entry. */
export function parsePrinterConfigs(raw: unknown, registry: CapabilityRegistry): AgentPrinterConfig[] {
  if (!Array.isArray(raw)) throw new ConfigError('"printers" must be a list');
  const seen = new Set<string>();
  return raw.map((p, i) => {
    const where = `printers[${i}]`;
    if (!p || typeof p !== 'object') throw new ConfigError(`${where} must be an object`);
    const o = p as Record<string, unknown>;
    if (typeof o.id !== 'string' || !AGENT_PRINTER_ID_PATTERN.test(o.id)) throw new ConfigError(`${where}.id must be 1-64 letters, digits, "_", "." or "-"`);
    if (seen.has(o.id)) throw new ConfigError(`${where}.id "${o.id}" is used twice`);
    seen.add(o.id);
    if (typeof o.name !== 'string' || !o.name || o.name.length > 100) throw new ConfigError(`${where}.name must be a name of 1-100 characters`);
    const cap = typeof o.driver === 'string' ? registry.get('printer-driver', o.driver) : undefined;
    if (!cap || o.driver === 'agent') {
      const known = registry.list('printer-driver').map((c) => c.name).filter((n) => n !== 'agent');
      throw new ConfigError(`${where}.driver must be one of ${known.join(', ')}`);
    }
    let connection: Record<string, unknown>;
    try {
      connection = cap.validateConnection(o.connection ?? {});
    } catch (err) {
      throw new ConfigError(`${where}: ${(err as Error).message}`);
    }
    return { id: o.id, name: o.name, driver: o.driver as string, model: typeof o.model === 'string' ? o.model : null, connection };
  });
}

interface LocalPrinter {
  config: AgentPrinterConfig;
  capability: PrinterDriverCapability;
  driver: PrinterDriver;
  state: PrinterState;
}

export interface LocalPrintersOptions {
  registry: CapabilityRegistry;
  printers: AgentPrinterConfig[];
  dataDir: string;
  clock: Clock;
  logger: Logger;
  staleAfterSeconds: number;
  onState(printerId: string, state: PrinterState): void;
}

export class LocalPrinters {
  #o: LocalPrintersOptions;
  #printers = new Map<string, LocalPrinter>();
  readonly bus = new EventBus();

  constructor(opts: LocalPrintersOptions) {
    this.#o = opts;
    for (const config of opts.printers) {
      const capability = opts.registry.get('printer-driver', config.driver)!;
      const dataDir = path.join(opts.dataDir, 'printers', config.id);
      fs.mkdirSync(dataDir, { recursive: true });
      const entry = { config, capability } as LocalPrinter;
      entry.driver = capability.create({
        printerId: config.id,
        printerName: config.name,
        model: config.model ?? null,
        connection: config.connection,
        settings: { ...defaultPrinterSettings },
        staleAfterSeconds: opts.staleAfterSeconds,
        clock: opts.clock,
        logger: opts.logger.child({ printer: config.name }),
        bus: this.bus,
        dataDir,
        onState: (state) => {
          entry.state = state;
          opts.onState(config.id, state);
        },
      });
      entry.state = entry.driver.getState();
      this.#printers.set(config.id, entry);
    }
  }

  /** Starts every driver (each connects and reconnects on its own). */
  async start(): Promise<void> {
    await Promise.all(
      [...this.#printers.values()].map((p) =>
        p.driver.start().catch((err) => this.#o.logger.error({ err, printer: p.config.name }, 'printer driver failed to start')),
      ),
    );
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.#printers.values()].map((p) => p.driver.stop()));
    await Promise.allSettled([...new Set([...this.#printers.values()].map((p) => p.capability))].map((c) => c.shutdown?.()));
  }

  get(id: string): LocalPrinter | undefined {
    return this.#printers.get(id);
  }

  list(): LocalPrinter[] {
    return [...this.#printers.values()];
  }

  infos(): AgentPrinterInfo[] {
    return this.list().map((p) => ({
      id: p.config.id,
      name: p.config.name,
      driver: p.config.driver,
      model: p.config.model ?? null,
      fileKinds: [...(p.capability.fileKindsOf?.(p.config.connection) ?? p.capability.fileKinds ?? [])],
    }));
  }
}
