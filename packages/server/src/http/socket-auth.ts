/**
 * Authentication for Socket.IO namespaces (the robot namespace `/robot` and any later one), the
 * same rules as HTTP and the WebSocket hub: the handshake's `auth.token` is an access token or an
 * API key, checked by AuthService (revocation included), authorised by role; sockets of revoked
 * credentials are disconnected when `auth.revoked` fires.
 */
import type { Namespace } from 'socket.io';
import type { AuthService } from '../auth/auth-service.ts';
import { type Role, roleAllows } from '../auth/roles.ts';
import type { EventBus } from '../events/bus.ts';
import { authenticate } from './auth-hook.ts';
import { revokes } from './ws-hub.ts';

/** Installs the middleware on `nsp`; `socket.data.user` is the AuthUser afterwards. Returns a stop function. */
export function authenticateNamespace(nsp: Namespace, opts: { auth: AuthService; bus: EventBus; role?: Role }): () => void {
  const need = opts.role ?? 'operator';
  nsp.use((socket, next) => {
    const token = (socket.handshake.auth as Record<string, unknown> | undefined)?.token;
    const cred = typeof token === 'string' && token ? (token.startsWith('rwc_') ? { apiKey: token } : { bearer: token }) : {};
    authenticate(opts.auth, cred).then(
      (user) => {
        if (!roleAllows(user.role, need)) {
          return next(Object.assign(new Error('forbidden'), { data: { code: 'forbidden', message: `this needs the ${need} role` } }));
        }
        socket.data.user = user;
        next();
      },
      (err: { code?: string; message?: string }) =>
        next(Object.assign(new Error('unauthorized'), { data: { code: err.code ?? 'unauthorized', message: err.message ?? 'unauthorized' } })),
    );
  });
  const owner = {};
  opts.bus.on('auth.revoked', owner, (event) => {
    for (const socket of nsp.sockets.values()) if (revokes(event, socket.data.user)) socket.disconnect(true);
    // 'all': a revocation made through another server process closes the sockets held here too.
  }, 'all');
  return () => opts.bus.removeListeners(owner);
}
