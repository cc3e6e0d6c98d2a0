import type { Clock } from '../util/clock.ts';

/**
 * Login throttling as OWASP's Authentication and Credential Stuffing cheat sheets advise: limits
 * per account *and address together* with growing delays, plus a looser limit per address (one
 * address sweeping many accounts). There is deliberately no per-account limit across addresses:
 * that would let anyone lock a real user out by failing on purpose from elsewhere.
 *
 * Attempts are counted when they begin, before the password is hashed, so a burst of parallel
 * guesses cannot all be checked while the first ones are still hashing. Pure bookkeeping with an
 * injected clock.
 *
 * Per key: the first `allowance` failures in `windowMs` cost nothing; after that each further
 * attempt waits `baseDelayMs · 2^(failures − allowance)` (capped at `windowMs`) after the last
 * failure, one attempt at a time. A success clears the account+address key.
 */
export class LoginRateLimiter {
  #keys = new Map<string, { failures: number[]; inFlight: number }>();
  readonly #baseDelayMs: number;
  readonly #addressFactor: number;

  constructor(
    private readonly clock: Clock,
    /** Free failures per account+address in the window. */
    private readonly allowance: number,
    private readonly windowMs: number,
    opts: { baseDelayMs?: number; addressFactor?: number } = {},
  ) {
    this.#baseDelayMs = opts.baseDelayMs ?? 2000;
    this.#addressFactor = opts.addressFactor ?? 4;
  }

  #entry(key: string) {
    const since = this.clock.now() - this.windowMs;
    let e = this.#keys.get(key);
    if (!e) {
      e = { failures: [], inFlight: 0 };
      // Bound memory under a flood from many addresses: drop the oldest idle entry.
      if (this.#keys.size >= 20_000) {
        for (const [k, v] of this.#keys) {
          if (v.inFlight === 0) {
            this.#keys.delete(k);
            break;
          }
        }
      }
      this.#keys.set(key, e);
    }
    e.failures = e.failures.filter((t) => t > since);
    return e;
  }

  /** Milliseconds before one more attempt on this key may begin (0 = now). */
  #waitMs(key: string, allowance: number): number {
    const e = this.#entry(key);
    const n = e.failures.length;
    if (n + e.inFlight < allowance) return 0;
    if (n < allowance) return this.#baseDelayMs; // the allowance is taken by attempts still hashing
    if (e.inFlight > 0) return this.#baseDelayMs;
    const delay = Math.min(this.windowMs, this.#baseDelayMs * 2 ** (n - allowance));
    return Math.max(0, e.failures[n - 1]! + delay - this.clock.now());
  }

  #keysOf(account: string, address: string) {
    return [
      { key: `acct:${account.toLowerCase()}|ip:${address}`, allowance: this.allowance },
      { key: `ip:${address}`, allowance: this.allowance * this.#addressFactor },
    ];
  }

  /**
   * Reserves an attempt; `{ok: false, retryAfterSeconds}` means answer 429 without checking the
   * password. Every `{ok: true}` must be followed by `finish`.
   */
  begin(account: string, address: string): { ok: true; ticket: { account: string; address: string } } | { ok: false; retryAfterSeconds: number } {
    const keys = this.#keysOf(account, address);
    const wait = Math.max(...keys.map((k) => this.#waitMs(k.key, k.allowance)));
    if (wait > 0) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
    for (const k of keys) this.#entry(k.key).inFlight++;
    return { ok: true, ticket: { account, address } };
  }

  /** Ends an attempt begun with `begin`: a failure counts; a success clears the account+address key. */
  finish(ticket: { account: string; address: string }, success: boolean): void {
    const [pair, ip] = this.#keysOf(ticket.account, ticket.address);
    for (const k of [pair!, ip!]) {
      const e = this.#entry(k.key);
      e.inFlight = Math.max(0, e.inFlight - 1);
      if (!success) e.failures.push(this.clock.now());
    }
    if (success) this.#keys.delete(pair!.key);
  }
}
