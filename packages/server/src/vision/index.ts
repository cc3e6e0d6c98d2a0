/**
 * The vision part, assembled: frame store, task broker, detectors, snapshot sources, monitor and
 * routes. Built-ins register their capabilities in the registry exactly as a plugin would.
 *
 * Environment (besides the server's): `RWC_PUBLIC_URL` (how outside detector services reach this
 * server; default the listening address), `RWC_AI_MAX_FRAMES` (2000) and `RWC_AI_MAX_FRAME_MB`
 * (512): retention of stored frames.
 */
import type { Infra } from '../app-context.ts';
import { ConfigError } from '../config/config.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import { DetectorHub } from './detectors/hub.ts';
import { FrameStore } from './frame-store.ts';
import { VisionMonitor } from './monitor.ts';
import { type VisionRouteOptions, visionRoutes } from './routes.ts';
import { PRINTER_SOURCE, URL_SOURCE, printerCameraSource, urlCameraSource } from './snapshots.ts';
import { TaskBroker } from './tasks.ts';

export { visionRoutes };

export interface Vision {
  monitor: VisionMonitor;
  frames: FrameStore;
  tasks: TaskBroker;
  detectors: DetectorHub;
  routeOptions: VisionRouteOptions;
  /** Called once the server listens: outside services are given URLs on this base. */
  setListeningUrl(url: string): void;
  stop(): Promise<void>;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name} must be a whole number > 0 (got "${raw}")`);
  return n;
}

export async function startVision(opts: {
  infra: Infra;
  fleet: FleetView;
  pauseQueue: () => Promise<void>;
  env?: NodeJS.ProcessEnv;
}): Promise<Vision> {
  const { infra, fleet } = opts;
  const env = opts.env ?? {};
  const logger = infra.logger.child({ part: 'vision' });
  const publicUrl = env.RWC_PUBLIC_URL?.replace(/\/+$/, '') || null;
  if (publicUrl && !/^https?:\/\/[^/]+/.test(publicUrl))
    throw new ConfigError(`RWC_PUBLIC_URL must be an http(s) URL (got "${publicUrl}")`);
  const frames = new FrameStore({
    db: infra.storage.db,
    dataDir: infra.config.dataDir,
    clock: infra.clock,
    logger,
    limits: {
      maxFrames: positiveInt(env, 'RWC_AI_MAX_FRAMES', 2000),
      maxBytes: positiveInt(env, 'RWC_AI_MAX_FRAME_MB', 512) * 1024 * 1024,
    },
  });
  const tasks = new TaskBroker({ db: infra.storage.db, clock: infra.clock, baseUrl: publicUrl ?? undefined });
  await tasks.start();
  const detectors = new DetectorHub({
    db: infra.storage.db,
    registry: infra.registry,
    secrets: infra.secrets,
    tasks,
    clock: infra.clock,
  });
  await detectors.start();
  const monitor = new VisionMonitor({ infra, fleet, frames, detectors, pauseQueue: opts.pauseQueue });
  infra.registry.register('snapshot-source', PRINTER_SOURCE, printerCameraSource(fleet, infra.clock));
  infra.registry.register(
    'snapshot-source',
    URL_SOURCE,
    urlCameraSource((id) => monitor.cameraUrl(id), infra.clock, frames.limits.maxInputBytes),
  );
  await monitor.start();
  return {
    monitor,
    frames,
    tasks,
    detectors,
    routeOptions: {
      fleet,
      monitor,
      frames,
      tasks,
      detectors,
      registry: infra.registry,
      logger,
      now: () => infra.clock.now(),
    },
    setListeningUrl(url) {
      if (!publicUrl) tasks.baseUrl = url;
    },
    async stop() {
      await monitor.stop();
      tasks.stop();
      detectors.stop();
      infra.registry.unregister('snapshot-source', PRINTER_SOURCE);
      infra.registry.unregister('snapshot-source', URL_SOURCE);
    },
  };
}
