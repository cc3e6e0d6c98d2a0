/**
 * Time comes from outside: every part that waits takes a Clock, so tests drive a FakeClock
 * instead of sleeping.
 */
export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined | null): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined | null): void;
}

let nextId = 1;

export const systemClock: Clock = (() => {
  const real = new Map<number, NodeJS.Timeout>();
  return {
    now: () => Date.now(),
    setTimeout(fn, ms) {
      const id = nextId++;
      const t = setTimeout(() => {
        real.delete(id);
        fn();
      }, ms);
      t.unref?.();
      real.set(id, t);
      return { id };
    },
    clearTimeout(h) {
      if (!h) return;
      const t = real.get(h.id);
      if (t) clearTimeout(t);
      real.delete(h.id);
    },
    setInterval(fn, ms) {
      const id = nextId++;
      const t = setInterval(fn, ms);
      t.unref?.();
      real.set(id, t);
      return { id };
    },
    clearInterval(h) {
      if (!h) return;
      const t = real.get(h.id);
      if (t) clearInterval(t);
      real.delete(h.id);
    },
  };
})();

type FakeTimer = { id: number; at: number; fn: () => void; every: number | null };

/** A clock that only moves when told to. `advance` fires due timers in time order. */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Map<number, FakeTimer>();

  constructor(start = Date.UTC(2026, 0, 1, 0, 0, 0)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn, every: null });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined | null): void {
    if (handle) this.#timers.delete(handle.id);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = nextId++;
    const every = Math.max(1, ms);
    this.#timers.set(id, { id, at: this.#now + every, fn, every });
    return { id };
  }

  clearInterval(handle: TimerHandle | undefined | null): void {
    this.clearTimeout(handle);
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.#timers.values()) if (t.at <= target && (!next || t.at < next.at)) next = t;
      if (!next) break;
      this.#now = next.at;
      if (next.every === null) this.#timers.delete(next.id);
      else next.at += next.every;
      next.fn();
    }
    this.#now = target;
  }

  pendingTimers(): number {
    return this.#timers.size;
  }
}
