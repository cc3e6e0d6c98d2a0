/**
 * What a RealWorldClaw robot project written in JavaScript/TypeScript may import
 * (`import { push_message } from 'robot_runtime'`; also on `globalThis.push_message`):
 *
 * - `push_message(event, data)`: sends `data` (anything JSON can carry) to the connected clients as a
 *   Socket.IO event named `event`.
 * - `motion`: marks a motion command (`motion(fn)`, or `@motion` on a class method in TypeScript);
 *   while a motion is active the server runs the project's stop() when the controller goes silent
 *   (deadman) or disconnects.
 * - `should_stop()` / `wait_stop(seconds)`: true once a stop was requested (disconnect, deadman,
 *   e-stop, call timeout); cleared when the next call starts. `wait_stop` resolves early on a stop.
 */
let sender = null;
let stopRequested = false;
const waiters = new Set();

export function push_message(event, data = null) {
  if (!sender) throw new Error('push_message works only inside the RealWorldClaw robot worker');
  sender(event, data);
}

/** `motion(fn)` or, as a TypeScript 5 decorator, `@motion`. */
export function motion(value, _context) {
  value.__robot_motion__ = true;
  return value;
}

export function should_stop() {
  return stopRequested;
}

/** Resolves true as soon as a stop is requested, or false after `seconds`. */
export function wait_stop(seconds) {
  if (stopRequested) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (stopped) => {
      clearTimeout(timer);
      waiters.delete(done);
      resolve(stopped);
    };
    const timer = setTimeout(() => done(false), Math.max(0, seconds * 1000));
    waiters.add(done);
  });
}

/** Wiring used by the worker runner only. */
export const _worker = {
  setSender(fn) {
    sender = fn;
  },
  setStop(flag) {
    stopRequested = flag;
    if (flag) for (const w of [...waiters]) w(true);
  },
};
