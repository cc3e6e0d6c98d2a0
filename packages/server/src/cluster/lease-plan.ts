/**
 * Pure lease decisions for scale-out: which printers a process should try to claim this round.
 * The claim itself is one conditional write (cluster-repo.ts), so two processes deciding the same
 * printer at once is harmless: only one wins it.
 */
import { createHash } from 'node:crypto';

export interface LeaseRow {
  printerId: string;
  processId: string;
  /** Epoch ms. */
  expiresAt: number;
}

export interface ProcessRow {
  id: string;
  host: string;
  startedAt: string;
  /** Epoch ms of the last heartbeat. */
  heartbeatAt: number;
}

export interface LeaseInput {
  self: string;
  now: number;
  leaseMs: number;
  printerIds: string[];
  leases: LeaseRow[];
  processes: ProcessRow[];
}

/** A process is alive while its heartbeat is younger than one lease. */
export const isAlive = (p: ProcessRow, now: number, leaseMs: number) => p.heartbeatAt + leaseMs > now;

/**
 * Printers to claim: free ones (never leased, or lease expired) up to this process's fair share,
 * ceil(printers / live processes). A printer free for longer than one more lease is claimed
 * regardless of the share (its would-be owner may be gone too): someone must run every printer.
 * Candidates are ordered by a hash of (printer, process), so processes claiming at the same moment
 * mostly reach for different printers.
 */
export function planClaims(input: LeaseInput): string[] {
  const { self, now, leaseMs } = input;
  const byPrinter = new Map(input.leases.map((l) => [l.printerId, l]));
  const alive = Math.max(1, input.processes.filter((p) => p.id === self || isAlive(p, now, leaseMs)).length);
  const share = Math.ceil(input.printerIds.length / alive);
  const mine = input.leases.filter((l) => l.processId === self && l.expiresAt > now).length;
  const free: { id: string; long: boolean }[] = [];
  for (const id of input.printerIds) {
    const l = byPrinter.get(id);
    if (!l) free.push({ id, long: false });
    else if (l.expiresAt <= now && l.processId !== self) free.push({ id, long: l.expiresAt + leaseMs <= now });
  }
  const rank = (id: string) => createHash('sha1').update(`${id}/${self}`).digest('hex');
  free.sort((a, b) => (rank(a.id) < rank(b.id) ? -1 : 1));
  const claims: string[] = [];
  let room = share - mine;
  for (const f of free) {
    if (room > 0) {
      claims.push(f.id);
      room--;
    } else if (f.long) claims.push(f.id);
  }
  return claims;
}
