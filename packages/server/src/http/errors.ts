/**
 * Every error leaves the API as {"error": {"code", "message"}}. Throw ApiError (or one of the
 * helpers) from any route or service; the error handler in http/app.ts renders it.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const badRequest = (message: string, code = 'validation_error') => new ApiError(400, code, message);
export const unauthorized = (message = 'missing or invalid credentials', code = 'unauthorized') =>
  new ApiError(401, code, message);
export const forbidden = (message = 'your role does not allow this', code = 'forbidden') =>
  new ApiError(403, code, message);
export const notFound = (what: string, code = 'not_found') => new ApiError(404, code, `${what} not found`);
export const conflict = (message: string, code = 'conflict') => new ApiError(409, code, message);
export const tooLarge = (message: string, code = 'too_large') => new ApiError(413, code, message);

/** Thrown by validators outside HTTP (config, driver connections); rendered as 400 naming the field. */
export class ValidationError extends ApiError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(400, 'validation_error', `${field}: ${message}`);
    this.name = 'ValidationError';
  }
}
