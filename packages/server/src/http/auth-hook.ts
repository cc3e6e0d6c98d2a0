import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/auth-service.ts';
import { type AuthUser, type CredentialRole, roleAllows } from '../auth/roles.ts';
import { forbidden, unauthorized } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser | null;
    /** The credential the request was authenticated with (sockets keep it to re-check later). */
    credential: Credential | null;
  }
  interface FastifyContextConfig {
    /** Least role a route needs; 'public' skips authentication. Default: GET/HEAD viewer, else operator. */
    role?: CredentialRole | 'public';
  }
}

export interface Credential {
  bearer?: string;
  apiKey?: string;
}

/** Routes that answer without credentials (docs/api.md, Conventions). Everything else is denied by default. */
const publicRoutes = new Set([
  'GET /api/v1/health',
  'GET /api/v1/setup',
  'POST /api/v1/setup',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  'GET /api/v1/openapi.json',
]);

/** True for a route (as the router matched it, e.g. `/api/v1/printers/:id`) that needs no credentials. */
export function isPublicRoute(method: string, routeUrl: string): boolean {
  return publicRoutes.has(`${method === 'HEAD' ? 'GET' : method} ${routeUrl}`);
}

/** Where a WebSocket client may put its token (browsers cannot set headers on one). */
export const WS_ROUTES = new Set(['/api/v1/ws']);

/** The credential a request carries: a Bearer token, an X-Api-Key, or (WebSocket routes only) ?token= / the subprotocol. */
export function credentialsOf(request: FastifyRequest): Credential {
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && /^Bearer /i.test(auth)) {
    const token = auth.slice(7).trim();
    return token.startsWith('rwc_') ? { apiKey: token } : { bearer: token };
  }
  const key = request.headers['x-api-key'];
  if (typeof key === 'string' && key) return { apiKey: key };
  if (request.routeOptions.url && WS_ROUTES.has(request.routeOptions.url)) {
    const q = (request.query as Record<string, unknown> | undefined)?.token;
    if (typeof q === 'string' && q) return q.startsWith('rwc_') ? { apiKey: q } : { bearer: q };
    const proto = request.headers['sec-websocket-protocol'];
    if (typeof proto === 'string') {
      const parts = proto.split(',').map((s) => s.trim());
      const token = parts.find((p) => p.split('.').length === 3) ?? parts.find((p) => p.startsWith('rwc_'));
      if (token?.startsWith('rwc_')) return { apiKey: token };
      if (token) return { bearer: token };
    }
  }
  return {};
}

/** Verifies a credential (JWT or API key); throws 401 when it is missing or not valid. */
export async function authenticate(auth: AuthService, cred: Credential): Promise<AuthUser> {
  if (cred.bearer) return auth.verifyAccessToken(cred.bearer);
  if (cred.apiKey) return auth.verifyApiKey(cred.apiKey);
  throw unauthorized('this route needs credentials: send "Authorization: Bearer <token>" or "X-Api-Key"');
}

export interface AuthHookOptions {
  /** GET/HEAD of paths outside /api answer with the web UI (history-mode fallback): public. */
  spaFallback: boolean;
}

/**
 * Authenticates every request in onRequest (before any body is read) and authorises it by the role
 * of the route the router matched: never by the URL string. A route is public only when listed
 * above or marked `config.role = 'public'` (the static UI and the API docs, see app.ts); unknown
 * routes need credentials too, so nothing about the API shows to an anonymous caller.
 */
export function installAuth(app: FastifyInstance, auth: AuthService, opts: AuthHookOptions): void {
  app.decorateRequest('user', null);
  app.decorateRequest('credential', null);
  app.addHook('onRequest', async (request) => {
    const routeUrl = request.routeOptions.url;
    const configured = request.routeOptions.config?.role;
    if (routeUrl !== undefined && (configured === 'public' || isPublicRoute(request.method, routeUrl))) return;
    if (routeUrl === undefined && opts.spaFallback && isUiPath(request)) return;
    const cred = credentialsOf(request);
    request.user = await authenticate(auth, cred);
    request.credential = cred;
    const need: CredentialRole = (configured !== 'public' ? configured : undefined) ?? (request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'operator');
    if (!roleAllows(request.user.role, need)) {
      throw forbidden(`this needs the ${need} role; you are ${request.user.role}`);
    }
  });
}

function isUiPath(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const url = request.url;
  return !(url === '/api' || url.startsWith('/api/') || url.startsWith('/api?'));
}
