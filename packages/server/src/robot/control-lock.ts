import type { AuthUser } from '../auth/roles.ts';
import { roleAllows } from '../auth/roles.ts';

/** Who holds control of the robot: one Socket.IO connection at a time (seed 003 单客户端). */
export interface ControlHolder {
  socketId: string;
  user: AuthUser;
  /** ms since the epoch. */
  since: number;
}

export type ClaimResult =
  | { granted: true; displaced: ControlHolder | null }
  | { granted: false; reason: 'busy'; holder: ControlHolder }
  | { granted: false; reason: 'role' };

/**
 * The control lock. Pure: no sockets, no timers. A claim succeeds when nobody holds control, or
 * with `takeover` (operator role or above), which displaces the holder; the caller then runs the
 * project's stop() and disconnects the displaced connection.
 */
export class ControlLock {
  #holder: ControlHolder | null = null;

  get holder(): ControlHolder | null {
    return this.#holder;
  }

  isHolder(socketId: string): boolean {
    return this.#holder?.socketId === socketId;
  }

  claim(socketId: string, user: AuthUser, opts: { takeover: boolean; now: number }): ClaimResult {
    if (!roleAllows(user.role, 'operator')) return { granted: false, reason: 'role' };
    const current = this.#holder;
    if (current?.socketId === socketId) return { granted: true, displaced: null };
    if (current && !opts.takeover) return { granted: false, reason: 'busy', holder: current };
    this.#holder = { socketId, user, since: opts.now };
    return { granted: true, displaced: current };
  }

  /** Frees control if `socketId` holds it; true when it did. */
  release(socketId: string): boolean {
    if (this.#holder?.socketId !== socketId) return false;
    this.#holder = null;
    return true;
  }
}
