import type { CapabilityRegistry } from '../registry/capabilities.ts';
import { registerBambu } from './bambu/index.ts';
import { registerMarlin } from './marlin/index.ts';
import { registerMoonraker } from './moonraker/index.ts';

/** Registers the printer drivers that ship with the server, through the same registry a plugin uses. */
export function registerBuiltinDrivers(registry: CapabilityRegistry): void {
  registerBambu(registry);
  registerMarlin(registry);
  registerMoonraker(registry);
}
