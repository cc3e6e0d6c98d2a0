import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server as SocketIoServer } from 'socket.io';

/** Where Socket.IO answers on the main HTTP port (the client libraries' default). */
export const SOCKET_IO_PATH = '/socket.io/';

export interface SocketIoOptions {
  /** Largest message, bytes (a base64 project ZIP in `update` must fit). */
  maxHttpBufferSize: number;
}

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Attaches Socket.IO to the server's own HTTP server (same port, same TLS, same process).
 *
 * Engine.IO intercepts `/socket.io/` requests itself. Upgrades need care: @fastify/websocket
 * routes *every* upgrade through Fastify (which would answer Socket.IO's with a 404 on the raw
 * socket), so upgrade listeners are split by path: `/socket.io/` to Engine.IO, the rest to the
 * listeners that were there before.
 */
export function attachSocketIo(server: HttpServer, opts: SocketIoOptions): SocketIoServer {
  const earlier = server.listeners('upgrade') as UpgradeListener[];
  server.removeAllListeners('upgrade');
  const io = new SocketIoServer(server, {
    path: SOCKET_IO_PATH.slice(0, -1),
    serveClient: false,
    maxHttpBufferSize: opts.maxHttpBufferSize,
    // A dead link is noticed within ~20 s (the deadman covers motion much sooner).
    pingInterval: 10_000,
    pingTimeout: 10_000,
    // An Engine.IO connection that never joins a namespace (no or bad credentials) is closed soon.
    connectTimeout: 10_000,
    // Our own listener routes upgrades; Engine.IO must not end sockets it does not own.
    destroyUpgrade: false,
  });
  const engineListeners = server.listeners('upgrade') as UpgradeListener[];
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const mine = (req.url ?? '').startsWith(SOCKET_IO_PATH);
    for (const l of mine ? engineListeners : earlier) l.call(server, req, socket, head);
  });
  return io;
}
