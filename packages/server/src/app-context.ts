import type { Config } from './config/config.ts';
import type { EventBus } from './events/bus.ts';
import type { CapabilityRegistry } from './registry/capabilities.ts';
import type { Storage } from './storage/db.ts';
import type { SecretBox } from './storage/secrets.ts';
import type { Clock } from './util/clock.ts';
import type { Logger } from './util/logger.ts';

/** The shared infrastructure every part is built from (the composition root fills it in). */
export interface Infra {
  config: Config;
  storage: Storage;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  registry: CapabilityRegistry;
  secrets: SecretBox;
}
