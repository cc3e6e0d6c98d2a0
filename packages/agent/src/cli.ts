/**
 * `rwc-agent --server mqtt(s)://host:port --key <agent key> [--id <agent id>] [--http http://host:8080]
 *  [--config agent.json] [--data-dir ./agent-data] [--ca ca.pem] [--insecure] [--simulate kind[:n]]`
 *
 * The key may come from RWC_AGENT_KEY instead (it then stays out of the process list).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '@rwc/server/util/logger.ts';
import { EdgeAgent, builtinRegistry } from './agent.ts';
import { type AgentPrinterConfig, ConfigError, parsePrinterConfigs } from './local-printers.ts';

export interface CliConfig {
  server: string;
  key: string;
  id?: string;
  http?: string;
  dataDir: string;
  printers: AgentPrinterConfig[];
  caFile: string | null;
  insecure: boolean;
  logLevel: string;
}

const USAGE =
  'usage: rwc-agent --server mqtt://host:1884 --key <agent key> [--id <agent id>] [--http http://host:8080] [--config agent.json] [--data-dir ./agent-data] [--ca ca.pem] [--insecure] [--simulate simulated-bambu:2]';

/** Parses and checks the command line; throws ConfigError with one clear line. */
export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): CliConfig {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' },
        key: { type: 'string' },
        id: { type: 'string' },
        http: { type: 'string' },
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        ca: { type: 'string' },
        insecure: { type: 'boolean' },
        simulate: { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) throw new ConfigError(USAGE);
  const server = (values.server as string | undefined) ?? env.RWC_AGENT_SERVER;
  if (!server || !/^mqtts?:\/\/[^/\s]+/.test(server)) throw new ConfigError(`--server must be mqtt://host:port or mqtts://host:port\n${USAGE}`);
  const key = (values.key as string | undefined) ?? env.RWC_AGENT_KEY;
  if (!key) throw new ConfigError(`--key (or RWC_AGENT_KEY) is required: the agent key from POST /api/v1/agents\n${USAGE}`);
  const http = values.http as string | undefined;
  if (http && !/^https?:\/\/[^/\s]+/.test(http)) throw new ConfigError('--http must be http://host:port or https://host:port');
  const registry = builtinRegistry();
  let printers: AgentPrinterConfig[] = [];
  const configFile = values.config ? path.resolve(cwd, values.config as string) : path.resolve(cwd, 'agent.json');
  if (fs.existsSync(configFile)) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`${configFile} is not valid JSON: ${(err as Error).message}`);
    }
    try {
      printers = parsePrinterConfigs((raw as { printers?: unknown })?.printers ?? [], registry);
    } catch (err) {
      throw new ConfigError(`${configFile}: ${(err as Error).message}`);
    }
  } else if (values.config) throw new ConfigError(`--config ${configFile} does not exist`);
  for (const spec of (values.simulate as string[] | undefined) ?? []) {
    const m = /^(simulated-(?:bambu|marlin|moonraker))(?::(\d{1,3}))?$/.exec(spec);
    if (!m) throw new ConfigError(`--simulate must be simulated-bambu, simulated-marlin or simulated-moonraker, optionally :count; got "${spec}"`);
    const n = Number(m[2] ?? 1);
    for (let i = 1; i <= n; i++) {
      const id = `${m[1]!.replace('simulated-', 'sim-')}-${printers.length + 1}`;
      printers.push(...parsePrinterConfigs([{ id, name: `${id}`, driver: m[1], connection: { timeScale: 20 } }], registry));
    }
  }
  const ca = values.ca ? path.resolve(cwd, values.ca as string) : null;
  if (ca && !fs.existsSync(ca)) throw new ConfigError(`--ca ${ca} does not exist`);
  return {
    server,
    key,
    id: values.id as string | undefined,
    http,
    dataDir: path.resolve(cwd, (values['data-dir'] as string | undefined) ?? 'agent-data'),
    printers,
    caFile: ca,
    insecure: values.insecure === true,
    logLevel: (values['log-level'] as string | undefined) ?? env.RWC_LOG_LEVEL ?? 'info',
  };
}

/** Runs the agent until SIGTERM/SIGINT (the `rwc-agent` bin calls this). */
export async function main(): Promise<void> {
  let cfg: CliConfig;
  try {
    cfg = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`rwc-agent: ${(err as Error).message}\n`);
    process.exit(err instanceof ConfigError && (err as Error).message === USAGE ? 0 : 1);
  }
  const logger = createLogger({ level: cfg.logLevel, name: 'rwc-agent' });
  if (!cfg.printers.length) logger.warn('no printers configured (agent.json or --simulate): the agent links but has nothing to run');
  const agent = await EdgeAgent.start({
    server: cfg.server,
    http: cfg.http,
    key: cfg.key,
    agentId: cfg.id,
    dataDir: cfg.dataDir,
    printers: cfg.printers,
    caFile: cfg.caFile,
    insecure: cfg.insecure,
    logger,
  });
  logger.info({ printers: cfg.printers.length, dataDir: cfg.dataDir }, 'agent running');
  // Nothing else may keep the process alive (no printers, link refused): this does.
  const keepAlive = setInterval(() => undefined, 60_000);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'agent stopping');
    setTimeout(() => process.exit(1), 15_000).unref();
    clearInterval(keepAlive);
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

