/**
 * What to do after a plugin process died: restart it after a backoff, or stop trying (VS Code's
 * "terminated 3 times within the last 5 minutes"). Pure; times come from the caller's clock.
 */
import type { PluginLimits } from './manifest.ts';

export type CrashDecision = { action: 'restart'; delayMs: number; crashes: number } | { action: 'disable'; crashes: number };

export class CrashGuard {
  #crashes: number[] = [];

  constructor(private readonly limits: Pick<PluginLimits, 'crashLimit' | 'crashWindowSeconds' | 'backoffMinSeconds' | 'backoffMaxSeconds'>) {}

  /** Crashes counted in the window ending at `now`. */
  recent(now: number): number {
    const from = now - this.limits.crashWindowSeconds * 1000;
    this.#crashes = this.#crashes.filter((t) => t > from);
    return this.#crashes.length;
  }

  /** Records a crash at `now`: the `crashLimit`-th in the window disables, earlier ones back off exponentially. */
  recordCrash(now: number): CrashDecision {
    this.#crashes.push(now);
    const crashes = this.recent(now);
    if (crashes >= this.limits.crashLimit) return { action: 'disable', crashes };
    const delay = this.limits.backoffMinSeconds * 2 ** (crashes - 1);
    return { action: 'restart', delayMs: Math.round(Math.min(this.limits.backoffMaxSeconds, delay) * 1000), crashes };
  }

  /** A person enabled the plugin again: past crashes no longer count. */
  reset(): void {
    this.#crashes = [];
  }
}
