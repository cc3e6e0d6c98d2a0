import type { Clock, TimerHandle } from '../util/clock.ts';

/**
 * Deadman timer of a motion command. Unitree's Move() is fire-and-forget (the robot keeps walking
 * until told otherwise), so the server must stop the robot itself when its controller goes quiet:
 * `arm()` after a motion call, `touch()` on every message from the controller (a call, a
 * heartbeat), `disarm()` once stop() ran. When `timeoutMs` pass without a touch while armed,
 * `onExpire` fires once and the timer disarms.
 */
export class Deadman {
  #timer: TimerHandle | null = null;
  #armed = false;

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly onExpire: () => void,
  ) {}

  get armed(): boolean {
    return this.#armed;
  }

  arm(): void {
    this.#armed = true;
    this.#restart();
  }

  touch(): void {
    if (this.#armed) this.#restart();
  }

  disarm(): void {
    this.#armed = false;
    this.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #restart(): void {
    this.clock.clearTimeout(this.#timer);
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = null;
      if (!this.#armed) return;
      this.#armed = false;
      this.onExpire();
    }, this.timeoutMs);
  }
}
