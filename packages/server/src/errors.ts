/**
 * Domain errors: what went wrong, in terms every part understands (drivers, library, queue, auth),
 * without depending on the web layer. The HTTP layer (http/errors.ts) maps each kind to a status
 * and renders `{"error": {"code", "message"}}`; other callers (CLI, agent, plugins) read `kind`.
 *
 * `code` is a stable snake_case identifier (the UI translates by it); `params` carries the values a
 * translation needs (field names, limits, ids); `message` is the English text for logs and clients
 * that do not translate.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'no_space';

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly params: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** True for any DomainError, also one thrown from another copy of this module (worker threads). */
export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError || (!!err && typeof err === 'object' && (err as { name?: unknown }).name === 'DomainError');
}

export const badRequest = (message: string, code = 'validation_error', params?: Record<string, unknown>) =>
  new DomainError('invalid', code, message, params);
export const unauthorized = (message = 'missing or invalid credentials', code = 'unauthorized') =>
  new DomainError('unauthenticated', code, message);
export const forbidden = (message = 'your role does not allow this', code = 'forbidden') =>
  new DomainError('forbidden', code, message);
export const notFound = (what: string, code = 'not_found', params?: Record<string, unknown>) =>
  new DomainError('not_found', code, `${what} not found`, params);
export const conflict = (message: string, code = 'conflict', params?: Record<string, unknown>) =>
  new DomainError('conflict', code, message, params);
export const tooLarge = (message: string, code = 'too_large', params?: Record<string, unknown>) =>
  new DomainError('too_large', code, message, params);

/** Thrown by validators outside HTTP (config, driver connections); rendered as 400 naming the field. */
export class ValidationError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('invalid', 'validation_error', `${field}: ${message}`, { field });
    this.name = 'ValidationError';
  }
}
