import type { Clock } from '../util/clock.ts';

/**
 * Counts failed logins per key (address + username) in a sliding window. Pure bookkeeping with an
 * injected clock; the route answers 429 while `blockedFor` is positive.
 */
export class LoginRateLimiter {
  #failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  #recent(key: string): number[] {
    const since = this.clock.now() - this.windowMs;
    const list = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (list.length) this.#failures.set(key, list);
    else this.#failures.delete(key);
    return list;
  }

  /** Seconds until another attempt is allowed; 0 when allowed now. */
  blockedFor(key: string, allowanceFactor = 1): number {
    const list = this.#recent(key);
    const max = this.maxFailures * allowanceFactor;
    if (list.length < max) return 0;
    const oldest = list[list.length - max]!;
    return Math.max(1, Math.ceil((oldest + this.windowMs - this.clock.now()) / 1000));
  }

  recordFailure(key: string): void {
    const list = this.#recent(key);
    list.push(this.clock.now());
    this.#failures.set(key, list);
    // Bound memory under a credential-stuffing flood from many addresses.
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value!);
  }

  reset(key: string): void {
    this.#failures.delete(key);
  }
}
