import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { AuthUser } from '../auth/roles.ts';
import type { DomainEvent, EventBus } from '../events/bus.ts';
import type { Logger } from '../util/logger.ts';
import { ErrorSchema } from './schemas.ts';

export interface WsHubOptions {
  bus: EventBus;
  logger: Logger;
  /** The first message a client gets: the whole picture (printers, queue). */
  snapshot: () => Promise<unknown>;
  /** Turns a domain event's data into what clients see (e.g. a printer's public state). */
  present?: (event: DomainEvent) => unknown;
  /** A client with more than this many bytes unsent is dropped: a slow reader never slows the server. */
  maxBufferedBytes?: number;
}

const hidden = new Set(['printer.log']);

/** WebSocket close code for a socket whose credentials were revoked (4000–4999: application codes). */
export const WS_CLOSE_REVOKED = 4401;

/** True when an `auth.revoked` event covers the credentials a socket was opened with. */
export function revokes(event: { userId?: string; apiKeyId?: string }, user: AuthUser | null | undefined): boolean {
  if (!user) return false;
  if (event.apiKeyId && user.apiKeyId === event.apiKeyId) return true;
  // A user's revocation also covers the API keys they made.
  return !!event.userId && (user.ownerId ?? (user.via === 'jwt' ? user.id : null)) === event.userId;
}

/** GET /api/v1/ws: snapshot on connect, then every domain event as {type, data, at}. */
export const wsHub: FastifyPluginAsync<WsHubOptions> = async (app, opts) => {
  const clients = new Set<WebSocket>();
  /** Who opened each socket (set before the snapshot, so a revocation during it counts too). */
  const owners = new Map<WebSocket, AuthUser | null>();
  const limit = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
  const owner = {};

  const send = (ws: WebSocket, text: string) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > limit) {
      opts.logger.warn({ buffered: ws.bufferedAmount }, 'dropping a slow WebSocket client');
      clients.delete(ws);
      ws.terminate();
      return;
    }
    ws.send(text);
  };

  opts.bus.onAny(owner, (event) => {
    if (!clients.size || hidden.has(event.type)) return;
    // Serialise once per event, not once per client.
    const text = JSON.stringify({ type: event.type, data: opts.present ? opts.present(event) : event.data, at: event.at });
    for (const ws of clients) send(ws, text);
  }, 'all');

  // Revoked credentials close their sockets at once (docs: auth.revoked).
  opts.bus.on('auth.revoked', owner, (event) => {
    for (const [ws, user] of owners) {
      if (!revokes(event, user)) continue;
      clients.delete(ws);
      owners.delete(ws);
      ws.close(WS_CLOSE_REVOKED, 'credentials revoked');
    }
  }, 'all');

  app.addHook('onClose', async () => {
    opts.bus.removeListeners(owner);
    for (const ws of clients) ws.close(1001, 'server shutting down');
  });

  const wsHandler = (socket: unknown, request: FastifyRequest) => {
    const ws = socket as WebSocket;
    owners.set(ws, request.user);
    // Events that arrive while the snapshot is being built wait until it is sent, so none is lost.
    const early: string[] = [];
    let ready = false;
    const bufferEarly = (event: DomainEvent) => {
      if (!ready && !hidden.has(event.type)) {
        early.push(JSON.stringify({ type: event.type, data: opts.present ? opts.present(event) : event.data, at: event.at }));
      }
    };
    const earlyOwner = {};
    opts.bus.onAny(earlyOwner, bufferEarly, 'all');
    ws.on('close', () => {
      clients.delete(ws);
      owners.delete(ws);
      opts.bus.removeListeners(earlyOwner);
    });
    ws.on('error', () => clients.delete(ws));
    ws.on('message', (msg) => {
      if (String(msg) === 'ping') send(ws, JSON.stringify({ type: 'pong', data: {}, at: new Date().toISOString() }));
    });
    opts
      .snapshot()
      .then((data) => {
        send(ws, JSON.stringify({ type: 'snapshot', data, at: new Date().toISOString() }));
        ready = true;
        opts.bus.removeListeners(earlyOwner);
        for (const text of early) send(ws, text);
        if (ws.readyState === ws.OPEN && owners.has(ws)) clients.add(ws);
      })
      .catch((err) => {
        opts.logger.error({ err }, 'WebSocket snapshot failed');
        ws.close(1011, 'snapshot failed');
      });
  };

  // Declared with wsHandler (not `websocket: true`) so the route stays in the OpenAPI document and a
  // plain HTTP GET gets an answer in the error shape instead of an empty 404.
  app.route({
    method: 'GET',
    url: '/ws',
    schema: {
      description:
        'WebSocket (send Upgrade: websocket; token as ?token= or Sec-WebSocket-Protocol): a snapshot, then every event as {type, data, at}',
      response: { 426: ErrorSchema },
    },
    handler: async (_request, reply) =>
      reply
        .status(426)
        .header('Upgrade', 'websocket')
        .send({ error: { code: 'upgrade_required', message: 'GET /api/v1/ws is a WebSocket: connect with "Upgrade: websocket"' } }),
    wsHandler,
  });
};
