/**
 * Restart policy of a crashing worker: exponential backoff, and a crash-loop guard in the style of
 * VS Code's extension host ("terminated 3 times within the last 5 minutes"): past `maxCrashes`
 * crashes within `windowMs` the worker is left down (`give_up`) until someone starts it again.
 * Pure: the caller passes the time.
 */
export interface CrashGuardOptions {
  maxCrashes: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export type CrashDecision = { action: 'restart'; delayMs: number; crashes: number } | { action: 'give_up'; crashes: number };

export const defaultCrashGuard: CrashGuardOptions = { maxCrashes: 5, windowMs: 5 * 60_000, baseDelayMs: 500, maxDelayMs: 30_000 };

export class CrashGuard {
  #crashes: number[] = [];

  constructor(private readonly opts: CrashGuardOptions = defaultCrashGuard) {}

  /** Records a crash at `now` (ms) and decides: restart after a delay, or give up. */
  record(now: number): CrashDecision {
    this.#crashes = this.#crashes.filter((t) => t > now - this.opts.windowMs);
    this.#crashes.push(now);
    const crashes = this.#crashes.length;
    if (crashes > this.opts.maxCrashes) return { action: 'give_up', crashes };
    const delayMs = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (crashes - 1));
    return { action: 'restart', delayMs, crashes };
  }

  /** Crashes within the window ending at `now`. */
  recent(now: number): number {
    return this.#crashes.filter((t) => t > now - this.opts.windowMs).length;
  }

  /** An explicit start or update forgives the past. */
  reset(): void {
    this.#crashes = [];
  }
}
