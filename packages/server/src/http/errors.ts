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
