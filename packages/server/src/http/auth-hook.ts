import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/auth-service.ts';
import { type AuthUser, type CredentialRole, roleAllows } from '../auth/roles.ts';
import { forbidden, unauthorized } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser | null;
  }
  interface FastifyContextConfig {
    /** Least role a route needs; 'public' skips authentication. Default: GET/HEAD viewer, else operator. */
    role?: CredentialRole | 'public';
  }
}

/** Paths under /api that answer without credentials (docs/api.md, Conventions). */
const publicRoutes = new Set([
  'GET /api/v1/health',
  'GET /api/v1/setup',
  'POST /api/v1/setup',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
  'GET /api/v1/openapi.json',
]);

export function isPublicRoute(method: string, url: string): boolean {
  return publicRoutes.has(`${method} ${url}`) || url.startsWith('/api/docs');
}

function credentialsOf(request: FastifyRequest): { bearer?: string; apiKey?: string } {
  const auth = request.headers.authorization;
  if (auth?.startsWith('Bearer ')) return { bearer: auth.slice(7).trim() };
  const key = request.headers['x-api-key'];
  if (typeof key === 'string' && key) return { apiKey: key };
  // Browsers cannot set headers on a WebSocket: accept ?token= or the subprotocol there only.
  if (request.routeOptions.url === '/api/v1/ws') {
    const q = (request.query as Record<string, unknown> | undefined)?.token;
    if (typeof q === 'string' && q) return { bearer: q };
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

/**
 * Authenticates every /api request (except the public ones) in onRequest, before any body is read,
 * and authorises it by the route's role. Unknown routes fall through to the 404 handler.
 */
export function installAuth(app: FastifyInstance, auth: AuthService): void {
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (request) => {
    const url = request.routeOptions.url;
    if (!url || !request.url.startsWith('/api/')) return;
    const configured = request.routeOptions.config?.role;
    if (configured === 'public' || isPublicRoute(request.method, url)) return;
    const { bearer, apiKey } = credentialsOf(request);
    if (bearer) request.user = await auth.verifyAccessToken(bearer);
    else if (apiKey) request.user = await auth.verifyApiKey(apiKey);
    else throw unauthorized('this route needs credentials: send "Authorization: Bearer <token>" or "X-Api-Key"');
    const need: CredentialRole = configured ?? (request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'operator');
    if (!roleAllows(request.user.role, need)) {
      throw forbidden(`this needs the ${need} role; you are ${request.user.role}`);
    }
  });
}
