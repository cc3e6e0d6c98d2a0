import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { AgentBroker } from './agents/broker.ts';
import { type AgentsPart, createAgentsPart } from './agents/index.ts';
import type { Infra } from './app-context.ts';
import { AuthService } from './auth/auth-service.ts';
import { LoginRateLimiter } from './auth/rate-limit.ts';
import { type Config, ConfigError, loadConfig } from './config/config.ts';
import { seedDemoFleet } from './demo.ts';
import { EventBus } from './events/bus.ts';
import { EventLog } from './events/event-log.ts';
import { type RouteModule, buildApp } from './http/app.ts';
import { eventRoutes } from './http/routes/events.ts';
import { printerRoutes } from './http/routes/printers.ts';
import { wsHub } from './http/ws-hub.ts';
import { registerBuiltinDrivers } from './printers/builtin-drivers.ts';
import { Fleet } from './printers/fleet.ts';
import { FileLibrary } from './library/file-library.ts';
import { fileRoutes, octoprintCompatRoutes } from './library/routes.ts';
import { queueInfoProvider } from './queue/printer-info.ts';
import { QueueService } from './queue/queue-service.ts';
import { queueRoutes } from './queue/routes.ts';
import { presentPrinter, presentState } from './printers/presenter.ts';
import { CapabilityRegistry } from './registry/capabilities.ts';
import { openStorage } from './storage/db.ts';
import { SecretBox, loadOrCreateKey } from './storage/secrets.ts';
import { type Clock, systemClock } from './util/clock.ts';
import { type Logger, createLogger } from './util/logger.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');

export const version: string = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;

export interface StartOptions {
  /** Overrides on top of the environment/config file. */
  config?: Partial<Config>;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  logger?: Logger;
  /** Web UI folder; default packages/web/dist. */
  webDist?: string | null;
}

export interface RunningServer {
  url: string;
  port: number;
  app: FastifyInstance;
  infra: Infra;
  fleet: Fleet;
  auth: AuthService;
  eventLog: EventLog;
  /** The embedded agent broker; null when agents use an external one (RWC_MQTT_URL). */
  broker: AgentBroker | null;
  agents: AgentsPart;
  library: FileLibrary;
  queue: QueueService;
  close(): Promise<void>;
}

/** The composition root: config → storage → parts → HTTP. */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const config: Config = { ...loadConfig(opts.env ?? process.env), ...(opts.config ?? {}) };
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const clock = opts.clock ?? systemClock;
  fs.mkdirSync(config.dataDir, { recursive: true });
  const storage = await openStorage({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, logger });
  const closers: Array<() => Promise<void>> = [() => storage.close()];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch((err) => logger.error({ err }, 'shutdown step failed'));
  };
  try {
    const bus = new EventBus({ now: () => clock.now(), onListenerError: (err, type) => logger.error({ err, type }, 'event listener failed') });
    const registry = new CapabilityRegistry();
    registerBuiltinDrivers(registry);
    const infra: Infra = { config, storage, bus, clock, logger, registry, secrets: SecretBox.fromDataDir(config.dataDir) };

    const auth = new AuthService({
      db: storage.db,
      clock,
      jwtKey: loadOrCreateKey(config.dataDir, 'jwt.key'),
      accessTtlSeconds: config.accessTokenTtlSeconds,
      refreshTtlSeconds: config.refreshTokenTtlSeconds,
    });
    const eventLog = new EventLog({ db: storage.db, bus, clock, logger });
    eventLog.start();
    closers.push(() => eventLog.stop());

    const agents = createAgentsPart(infra, auth);
    const fleet = new Fleet(infra);
    const library = new FileLibrary({
      db: storage.db,
      dataDir: config.dataDir,
      bus,
      clock,
      logger: logger.child({ part: 'library' }),
      limits: { maxUploadBytes: config.maxUploadBytes, maxZipEntryBytes: config.maxZipEntryBytes, maxZipRatio: config.maxZipRatio },
    });
    const demo = await seedDemoFleet({ infra, fleet, library, demo: config.demo });
    await fleet.start();
    closers.push(() => fleet.stop());
    if (demo) logger.info({ printers: fleet.list().length }, 'demo fleet of simulated printers added');

    const queue = new QueueService({ db: storage.db, bus, clock, logger: logger.child({ part: 'queue' }), fleet, library });
    await queue.start();
    closers.push(() => queue.stop());
    const queueInfo = queueInfoProvider(queue);
    const isBusyWithQueueJob = (printerId: string) => queue.hasActiveJob(printerId);

    let broker: AgentBroker | null = null;
    const routes: RouteModule[] = [
      { prefix: '/api/v1', plugin: printerRoutes, opts: { fleet, queueInfo, isBusyWithQueueJob } },
      { prefix: '/api/v1', plugin: fileRoutes, opts: { library } },
      { prefix: '/api/v1', plugin: queueRoutes, opts: { queue } },
      {
        prefix: '',
        plugin: octoprintCompatRoutes,
        opts: { library, onPrintRequested: async (fileId: string) => void (await queue.onPrintRequested(fileId)) },
      },
      { prefix: '/api/v1', plugin: eventRoutes, opts: { eventLog } },
      agents.routes(fleet, () => broker),
      {
        prefix: '/api/v1',
        plugin: wsHub,
        opts: {
          bus,
          logger,
          snapshot: async () => ({
            printers: fleet.list().map((p) => presentPrinter(p, fleet.publicConnection(p.summary.id), queueInfo)),
            queue: queue.getQueue(),
          }),
          present: (event: { type: string; data: any }) =>
            event.type === 'printer.state'
              ? { printerId: event.data.printerId, state: presentState(event.data.printerId, event.data.state, queueInfo) }
              : event.data,
        },
      },
    ];
    const app = await buildApp({
      logger,
      auth,
      rateLimiter: new LoginRateLimiter(clock, config.loginMaxFailures, config.loginWindowSeconds * 1000),
      version,
      maxUploadBytes: config.maxUploadBytes,
      webDist: opts.webDist === undefined ? path.join(repoRoot, 'packages/web/dist') : opts.webDist,
      routes,
    });
    closers.push(() => app.close());

    if (!config.mqttUrl) {
      const embedded = new AgentBroker({ host: config.host, port: config.mqttPort, auth, logger, bus });
      broker = embedded;
      await embedded.start().catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError(
          err.code === 'EADDRINUSE'
            ? `RWC_MQTT_PORT ${config.mqttPort} is already in use; pick another port`
            : `cannot start the agent MQTT broker on port ${config.mqttPort}: ${err.message}`,
        );
      });
      closers.push(() => embedded.stop());
    }
    await agents.start(broker).catch((err: Error) => {
      throw new ConfigError(`cannot link to the agents' MQTT broker: ${err.message}`);
    });
    closers.push(() => agents.stop());

    await app.listen({ port: config.port, host: config.host }).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError(
        err.code === 'EADDRINUSE'
          ? `RWC_PORT ${config.port} is already in use on ${config.host}; stop the other program or pick another port`
          : `cannot listen on ${config.host}:${config.port}: ${err.message}`,
      );
    });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    logger.info({ url, dataDir: config.dataDir, database: storage.dialect }, 'RealWorldClaw is running');
    let closed: Promise<void> | null = null;
    return {
      url,
      port,
      app,
      infra,
      fleet,
      auth,
      eventLog,
      broker,
      agents,
      library,
      queue,
      close: () => (closed ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
