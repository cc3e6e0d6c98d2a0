/**
 * The Node HTTP server under Fastify, the WebSocket upgrade and any Socket.IO server attached later.
 *
 * Every `request` and `upgrade` event passes through one gate before any listener sees it (the
 * gate wraps `emit`, so listeners added later, such as Socket.IO's, are behind it too): the target
 * is rewritten to its canonical origin-form (request-target.ts) or refused with 400. Timeouts end
 * slow-loris connections: the header section must arrive within `headersTimeoutMs`, the whole
 * request within `requestTimeoutMs`; Node checks them every `checkIntervalMs`.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { normalizeRequestTarget } from './request-target.ts';

export interface HttpServerLimits {
  /** Whole header section, from the first byte. */
  headersTimeoutMs: number;
  /** Whole request (headers and body); the large-upload ceiling. Handler time does not count. */
  requestTimeoutMs: number;
  /** Idle keep-alive connections close after this. */
  keepAliveTimeoutMs: number;
}

/** `{"error":{"code","message"}}` as raw HTTP/1.1 on a socket, then close. */
export function writeRawError(socket: Duplex, status: number, code: string, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function refuseRequest(res: http.ServerResponse, code: string, reason: string): void {
  const body = JSON.stringify({ error: { code, message: reason } });
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/** Engine.IO's default path: Socket.IO servers attached to this server own upgrades below it. */
export const SOCKET_IO_PATH = '/socket.io/';

type Listener = (...args: unknown[]) => void;
const fastifyUpgradeListeners = new WeakMap<http.Server, Set<Listener>>();

/**
 * Marks the upgrade listeners present now (Fastify's WebSocket routing) as Fastify's: an upgrade
 * below SOCKET_IO_PATH then goes only to the other listeners (a Socket.IO server attached later),
 * so Fastify never answers (and closes) a socket that Socket.IO is taking over.
 */
export function markFastifyUpgradeListeners(server: http.Server): void {
  fastifyUpgradeListeners.set(server, new Set(server.listeners('upgrade') as Listener[]));
}

/** An http.Server whose every request and upgrade sees a canonical target. */
export function createGatedServer(handler: http.RequestListener, limits: HttpServerLimits): http.Server {
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node only enforces the two timeouts above when it checks (default every 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2))),
    },
    handler,
  );
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'request' || event === 'upgrade') {
      const req = args[0] as http.IncomingMessage;
      const target = normalizeRequestTarget(req.url);
      if (!target.ok) {
        if (event === 'request') refuseRequest(args[1] as http.ServerResponse, target.code, target.reason);
        else writeRawError(args[1] as Duplex, 400, target.code, target.reason);
        return true;
      }
      req.url = target.url;
      const fastify = fastifyUpgradeListeners.get(server);
      if (event === 'upgrade' && fastify && target.url.startsWith(SOCKET_IO_PATH)) {
        const others = (server.listeners('upgrade') as Listener[]).filter((l) => !fastify.has(l));
        if (!others.length) {
          writeRawError(args[1] as Duplex, 404, 'not_found', 'no Socket.IO server here');
          return true;
        }
        for (const l of others) l.apply(server, args);
        return true;
      }
    }
    return emit(event, ...args);
  }) as typeof server.emit;
  return server;
}

/**
 * Errors Node's parser raises before a request exists (too many header bytes, a timeout, garbage)
 * answered in the API's error shape instead of Fastify's default body.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    writeRawError(socket, 431, 'headers_too_large', 'the request headers are too large (16 KiB at most)');
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    writeRawError(socket, 408, 'request_timeout', 'the request did not arrive in time');
  } else writeRawError(socket, 400, 'bad_request', `the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`);
}
