import type { PrinterDriverCapability } from '../printers/driver.ts';

/**
 * One place where parts say what they provide. Built-ins register through the same call a plugin
 * uses. Kinds are open-ended; the typed ones are listed here.
 */
export interface CapabilityKinds {
  'printer-driver': PrinterDriverCapability;
  detector: { analyze(jpeg: Buffer): Promise<{ score: number; boxes?: unknown[] }> };
  'snapshot-source': { snapshot(printerId: string): Promise<Buffer | null> };
  'robot-executor': { run(command: string, args: unknown): Promise<unknown> };
  notifier: { notify(message: { level: string; title: string; body: string }): Promise<void> };
}

export type CapabilityKind = keyof CapabilityKinds;

export interface CapabilityEntry<K extends CapabilityKind = CapabilityKind> {
  kind: K;
  name: string;
  provider: string;
  impl: CapabilityKinds[K];
}

export class CapabilityRegistry {
  #entries = new Map<string, CapabilityEntry>();

  register<K extends CapabilityKind>(kind: K, name: string, impl: CapabilityKinds[K], provider = 'builtin'): void {
    const key = `${kind}:${name}`;
    if (this.#entries.has(key)) throw new Error(`capability ${key} is already registered`);
    this.#entries.set(key, { kind, name, provider, impl } as CapabilityEntry);
  }

  unregister(kind: CapabilityKind, name: string): void {
    this.#entries.delete(`${kind}:${name}`);
  }

  get<K extends CapabilityKind>(kind: K, name: string): CapabilityKinds[K] | undefined {
    return this.#entries.get(`${kind}:${name}`)?.impl as CapabilityKinds[K] | undefined;
  }

  list<K extends CapabilityKind>(kind?: K): CapabilityEntry<K>[] {
    return [...this.#entries.values()].filter((e) => !kind || e.kind === kind) as CapabilityEntry<K>[];
  }
}
