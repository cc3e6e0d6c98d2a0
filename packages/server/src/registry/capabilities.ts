import type { AlertEvent } from '../alerts/raise.ts';
import type { PrinterDriverCapability } from '../printers/driver.ts';

/**
 * One place where parts say what they provide. Built-ins register through the same call a plugin
 * uses. Kinds are open-ended; the typed ones are listed here.
 */
/** One thing a detector found in a frame. `box` is [x, y, width, height] in pixels of the frame. */
export interface Detection {
  label: string;
  /** 0–1. */
  confidence: number;
  box: [number, number, number, number];
}

/**
 * `detector@1`: finds print failures in one JPEG frame. Rejects on timeout or error (the caller
 * records it; a failing detector never pauses a print). `model` names what answered.
 */
export interface DetectorCapability {
  detect(frame: { jpeg: Buffer; printerId?: string }, opts?: { signal?: AbortSignal }): Promise<{ detections: Detection[]; model: string }>;
}

/** `snapshot-source@1`: the latest camera frame of a printer as JPEG, or null when it has no camera. */
export interface SnapshotSourceCapability {
  /** True when this source can give frames for that printer (its driver has a camera, a URL is set, …). */
  covers(printerId: string): boolean;
  snapshot(printerId: string, opts?: { signal?: AbortSignal }): Promise<{ jpeg: Buffer; at: string } | null>;
}

/** `notifier@1`: delivers an alert to people (webhook, ntfy, Telegram, e-mail, …). */
export interface NotifierCapability {
  notify(message: {
    alert: AlertEvent;
    printerName: string | null;
    /** A JPEG frame that shows the problem, when there is one (AI pause, printer error with a camera). */
    snapshotJpeg?: Buffer | null;
  }): Promise<void>;
}

/**
 * Kinds of capability and the interface each one implements; `@1` in the plugin manifest's
 * `provides` names the version of these interfaces. Built-ins register the same way plugins do.
 */
export interface CapabilityKinds {
  'printer-driver': PrinterDriverCapability;
  detector: DetectorCapability;
  'snapshot-source': SnapshotSourceCapability;
  /** Shaped by the robot part (robot/); opaque to the registry. */
  'robot-executor': { run(command: string, args: unknown): Promise<unknown> };
  notifier: NotifierCapability;
  /** Shaped by the plugin host; opaque to the registry. */
  'queue-policy': Record<string, unknown>;
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
