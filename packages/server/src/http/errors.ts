import { type DomainError, type ErrorKind, isDomainError } from '../errors.ts';

/** HTTP status for each domain error kind (docs/api.md, Conventions). */
export const statusOfKind: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  no_space: 507,
};

/** The status a domain error is answered with. */
export function httpStatusOf(err: DomainError): number {
  return statusOfKind[err.kind] ?? 500;
}

export { isDomainError };

/** What a storage failure is answered with: the disk is full (507) or the database is unreachable (503). */
export interface StorageFailure {
  status: 503 | 507;
  code: 'insufficient_storage' | 'database_unavailable';
  message: string;
}

const FULL: StorageFailure = {
  status: 507,
  code: 'insufficient_storage',
  message: "the server's disk (or database storage) is full: free some space and retry",
};
const DOWN: StorageFailure = {
  status: 503,
  code: 'database_unavailable',
  message: 'the database cannot be reached right now; the server reconnects by itself, retry in a few seconds',
};

/**
 * Recognises disk-full and database-outage errors wherever they come from (fs ENOSPC, SQLite
 * SQLITE_FULL/BUSY/IOERR, PostgreSQL SQLSTATE 53100 disk_full, class 08 and 57P0x, or a pool
 * connection failure tagged by storage/db.ts), so they never surface as a generic 500.
 */
export function storageErrorOf(err: unknown): StorageFailure | null {
  if (!err || typeof err !== 'object') return null;
  const e = err as { code?: unknown; name?: unknown; severity?: unknown; databaseUnavailable?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (code === 'ENOSPC' || code === 'EDQUOT') return FULL;
  if (e.name === 'SqliteError') {
    if (code === 'SQLITE_FULL') return FULL;
    if (/^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|PROTOCOL)/.test(code)) return DOWN;
    return null;
  }
  if (typeof e.severity === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    if (code === '53100') return FULL;
    if (code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300') return DOWN;
    return null;
  }
  return e.databaseUnavailable === true ? DOWN : null;
}
