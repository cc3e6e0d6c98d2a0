import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { AgentBroker } from './agents/broker.ts';
import { AlertStore, alertItemOf } from './alerts/alert-store.ts';
import { alertRoutes } from './alerts/routes.ts';
import { OperatorAlertWatch } from './alerts/watchers.ts';
import { messageRoutes } from './messages/routes.ts';
import { type AgentsPart, createAgentsPart } from './agents/index.ts';
import type { Infra } from './app-context.ts';
import { AuthService } from './auth/auth-service.ts';
import { LoginRateLimiter } from './auth/rate-limit.ts';
import { type Config, ConfigError, loadConfig } from './config/config.ts';
import { seedDemoFleet, seedDemoVision } from './demo.ts';
import { EventBus } from './events/bus.ts';
import { EventLog } from './events/event-log.ts';
import { type RouteModule, buildApp } from './http/app.ts';
import { eventRoutes } from './http/routes/events.ts';
import { printerRoutes } from './http/routes/printers.ts';
import { wsHub } from './http/ws-hub.ts';
import { registerBuiltinDrivers } from './printers/builtin-drivers.ts';
import { Fleet } from './printers/fleet.ts';
import { TemperatureHistory } from './printers/temperature-history.ts';
import { UnreachableWatch } from './printers/unreachable-watch.ts';
import { FileLibrary } from './library/file-library.ts';
import { fileRoutes, octoprintCompatRoutes } from './library/routes.ts';
import { queueInfoProvider } from './queue/printer-info.ts';
import { QueueService } from './queue/queue-service.ts';
import { queueRoutes } from './queue/routes.ts';
import { NotificationRouter } from './notify/notification-router.ts';
import { PluginHost, type PluginHostOptions } from './plugins/host.ts';
import { pluginRoutes } from './plugins/routes.ts';
import { presentPrinter, presentState } from './printers/presenter.ts';
import { type RobotPart, createRobot } from './robot/index.ts';
import { CapabilityRegistry } from './registry/capabilities.ts';
import { openStorage } from './storage/db.ts';
import { SecretBox, loadOrCreateKey } from './storage/secrets.ts';
import { secureDataDir } from './storage/permissions.ts';
import { type Clock, systemClock } from './util/clock.ts';
import { type Vision, startVision, visionRoutes } from './vision/index.ts';
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
  /** Plugin host knobs (timings, where to look for plugins); tests shorten them. */
  plugins?: PluginHostOptions;
}

export interface RunningServer {
  url: string;
  port: number;
  app: FastifyInstance;
  infra: Infra;
  fleet: Fleet;
  auth: AuthService;
  eventLog: EventLog;
  alerts: AlertStore;
  /** The embedded agent broker; null when agents use an external one (RWC_MQTT_URL). */
  broker: AgentBroker | null;
  agents: AgentsPart;
  library: FileLibrary;
  queue: QueueService;
  robot: RobotPart;
  plugins: PluginHost;
  notifications: NotificationRouter;
  vision: Vision;
  close(): Promise<void>;
}

/** The composition root: config → storage → parts → HTTP. */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const config: Config = { ...loadConfig(opts.env ?? process.env), ...(opts.config ?? {}) };
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const clock = opts.clock ?? systemClock;
  secureDataDir(config.dataDir);
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
      dialect: storage.dialect,
      bus,
    });
    const eventLog = new EventLog({ db: storage.db, bus, clock, logger });
    eventLog.start();
    closers.push(() => eventLog.stop());
    // Before any part can raise one: every alert is stored.
    // The fleet is made below; alerts raised before it exists have no printer to name.
    let fleetRef: Fleet | null = null;
    const nameOf = (printerId: string) => fleetRef?.get(printerId)?.summary.name;
    const alerts = new AlertStore({ db: storage.db, bus, logger: logger.child({ part: 'alerts' }), now: () => clock.now(), nameOf });
    await alerts.start();
    closers.push(() => alerts.stop());

    const agents = createAgentsPart(infra, auth);
    const fleet = new Fleet(infra);
    fleetRef = fleet;
    const library = new FileLibrary({
      db: storage.db,
      dataDir: config.dataDir,
      bus,
      clock,
      logger: logger.child({ part: 'library' }),
      limits: {
        maxUploadBytes: config.maxUploadBytes,
        maxZipEntryBytes: config.maxZipEntryBytes,
        maxZipRatio: config.maxZipRatio,
        reserveBytes: config.uploadReserveBytes,
      },
    });
    // Upload leftovers from a crash go at start, not at the first upload.
    await library.init();
    closers.push(() => library.close());
    const demo = await seedDemoFleet({ infra, fleet, library, demo: config.demo });
    await fleet.start();
    closers.push(() => fleet.stop());
    if (demo) logger.info({ printers: fleet.list().length }, 'demo fleet of simulated printers added');

    const temperatures = new TemperatureHistory({ bus, now: () => clock.now() });
    temperatures.start();
    closers.push(async () => temperatures.stop());
    const unreachable = new UnreachableWatch({ bus, clock, fleet, afterSeconds: config.unreachableAlertSeconds });
    unreachable.start();
    closers.push(async () => unreachable.stop());

    const queue = new QueueService({ db: storage.db, bus, clock, logger: logger.child({ part: 'queue' }), fleet, library });
    await queue.start();
    closers.push(() => queue.stop());
    const operatorAlerts = new OperatorAlertWatch({ bus, fleet, queue });
    operatorAlerts.start();
    closers.push(async () => operatorAlerts.stop());
    // Plugins run in their own processes; their capabilities (printer drivers, notifiers, detectors)
    // join the registry as they come online, in the background.
    const plugins = new PluginHost(infra, fleet, {
      ...(opts.plugins ?? {}),
      enableOnFirstSight: [...(opts.plugins?.enableOnFirstSight ?? []), ...(demo ? ['demo-detector'] : [])],
    });
    await plugins.start();
    closers.push(() => plugins.stop());
    const notifications = new NotificationRouter({
      bus,
      registry,
      fleet,
      logger: logger.child({ part: 'notify' }),
      subscriptionOf: (_name, provider) => (provider.startsWith('plugin:') ? plugins.subscriptionOf(provider.slice(7)) : null),
    });
    notifications.start();
    closers.push(() => notifications.stop());
    const queueInfo = queueInfoProvider(queue);
    const isBusyWithQueueJob = (printerId: string) => queue.hasActiveJob(printerId);
    const vision = await startVision({ infra, fleet, pauseQueue: async () => void (await queue.setRunning(false)), env: opts.env ?? process.env });
    closers.push(() => vision.stop());
    if (demo) await seedDemoVision(vision, fleet);

    // The robot runtime; in a demo data dir the default project (simulated quadruped) loads at once.
    const demoData = demo || (config.demo !== false && !!(await storage.db.selectFrom('kv').select('key').where('key', '=', 'demo_seeded').executeTakeFirst()));
    const robot = createRobot({ infra, auth, autostart: demoData });
    closers.push(() => robot.close());

    let broker: AgentBroker | null = null;
    const routes: RouteModule[] = [
      { prefix: '/api/v1', plugin: printerRoutes, opts: { fleet, queueInfo, isBusyWithQueueJob, temperatures } },
      { prefix: '/api/v1', plugin: fileRoutes, opts: { library } },
      { prefix: '/api/v1', plugin: queueRoutes, opts: { queue } },
      {
        prefix: '',
        plugin: octoprintCompatRoutes,
        opts: {
          library,
          onPrintRequested: async (fileId: string, plate: number) => void (await queue.addItem({ fileId, plate })),
        },
      },
      { prefix: '/api/v1', plugin: eventRoutes, opts: { eventLog } },
      { prefix: '/api/v1', plugin: alertRoutes, opts: { alerts } },
      { prefix: '/api/v1', plugin: messageRoutes },
      robot.routes,
      { prefix: '/api/v1', plugin: pluginRoutes, opts: { host: plugins } },
      { prefix: '/api/v1', plugin: visionRoutes, opts: vision.routeOptions },
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
            alerts: { unacknowledged: alerts.unacknowledged },
          }),
          present: (event: { type: string; data: any; at: string }) =>
            event.type === 'printer.state'
              ? { printerId: event.data.printerId, state: presentState(event.data.printerId, event.data.state, queueInfo) }
              : event.type === 'alert'
                ? alertItemOf(event.data, event.at, nameOf)
                : event.data,
          delta: {
            currentStates: () => new Map(fleet.list().map((p) => [p.summary.id, presentState(p.summary.id, p.state, queueInfo)])),
          },
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
      limits: {
        headersTimeoutMs: config.headersTimeoutSeconds * 1000,
        requestTimeoutMs: config.requestTimeoutSeconds * 1000,
        bodyTimeoutMs: config.bodyTimeoutSeconds * 1000,
      },
    });
    closers.push(() => app.close());
    robot.attach(app.server);
    closers.push(() => robot.close());

    if (!config.mqttUrl) {
      const embedded = new AgentBroker({
        host: config.host,
        port: config.mqttPort,
        auth,
        bus,
        logger,
        tls: config.mqttTlsPort === null ? null : { port: config.mqttTlsPort, certFile: config.mqttTlsCert, keyFile: config.mqttTlsKey, dataDir: config.dataDir },
      });
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
    vision.setListeningUrl(url);
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
      alerts,
      broker,
      agents,
      library,
      queue,
      robot,
      plugins,
      notifications,
      vision,
      close: () => (closed ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
