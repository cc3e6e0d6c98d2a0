import { setTokens, tokens } from './auth-tokens.ts';
import type { Tokens } from './types.ts';

/** An error answer of the API: `{"error": {"code", "message"}}` plus the HTTP status. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The values a translated message needs (`error.params` of the answer). */
    readonly params: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Called when the session is gone for good (refresh failed): the router sends the user to login. */
let onSessionLost: () => void = () => {};
export function setSessionLostHandler(handler: () => void): void {
  onSessionLost = handler;
}

let refreshing: Promise<boolean> | null = null;

/** Rotates the tokens with the refresh token once; concurrent 401s share the same attempt. */
export function refreshTokens(): Promise<boolean> {
  if (refreshing) return refreshing;
  const refreshToken = tokens.value?.refreshToken;
  if (!refreshToken) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const res = await fetch('api/v1/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refreshToken }),
      });
      if (!res.ok) return false;
      setTokens((await res.json()) as Tokens);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export function authHeader(): Record<string, string> {
  const access = tokens.value?.accessToken;
  return access ? { authorization: `Bearer ${access}` } : {};
}

async function toError(res: Response): Promise<ApiRequestError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  let params: Record<string, unknown> = {};
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string; params?: Record<string, unknown> } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
    if (body.error?.params && typeof body.error.params === 'object') params = body.error.params;
  } catch {
    // not JSON: keep the status text
  }
  return new ApiRequestError(res.status, code, message, params);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** Public routes (setup, login) never try a refresh. */
  anonymous?: boolean;
}

/**
 * Calls `/api/v1{path}`. Paths are relative to the page so the app also works behind a sub-path.
 * On 401 it rotates the tokens once and retries; a second 401 ends the session.
 */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const send = () =>
    fetch(`api/v1${path}`, {
      method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
      headers: {
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(opts.anonymous ? {} : authHeader()),
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  let res = await send();
  if (res.status === 401 && !opts.anonymous) {
    if (await refreshTokens()) res = await send();
    if (res.status === 401) {
      setTokens(null);
      onSessionLost();
    }
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Fetches a protected binary (thumbnail, snapshot) and returns an object URL for <img>. */
export async function fetchBlobUrl(url: string): Promise<string> {
  const path = url.replace(/^\//, '');
  let res = await fetch(path, { headers: authHeader() });
  if (res.status === 401 && (await refreshTokens())) res = await fetch(path, { headers: authHeader() });
  if (!res.ok) throw await toError(res);
  return URL.createObjectURL(await res.blob());
}

const blobCache = new Map<string, Promise<string>>();

/** Like fetchBlobUrl, but shared for the page's life: thumbnails never change for a given URL. */
export function cachedBlobUrl(url: string): Promise<string> {
  let p = blobCache.get(url);
  if (!p) {
    p = fetchBlobUrl(url);
    blobCache.set(url, p);
    p.catch(() => blobCache.delete(url));
  }
  return p;
}
