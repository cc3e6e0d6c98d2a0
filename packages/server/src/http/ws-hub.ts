import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { AuthUser } from '../auth/roles.ts';
import type { DomainEvent, EventBus } from '../events/bus.ts';
import type { Logger } from '../util/logger.ts';
import { ErrorSchema } from './schemas.ts';
import { diffState } from './state-delta.ts';

export interface WsHubOptions {
  bus: EventBus;
  logger: Logger;
  /** The first message a client gets: the whole picture (printers, queue). */
  snapshot: () => Promise<unknown>;
  /** Turns a domain event's data into what clients see (e.g. a printer's public state). */
  present?: (event: DomainEvent) => unknown;
  /** A client with more than this many bytes unsent is dropped: a slow reader never slows the server. */
  maxBufferedBytes?: number;
  /**
   * Delta mode (`?delta=1`): printer states go out as one `printers.patch` per interval holding only
   * what changed. `currentStates` gives every printer's presented state right now (the baseline the
   * first delta client starts from).
   */
  delta?: { currentStates(): Map<string, unknown>; flushMs?: number };
}

const hidden = new Set(['printer.log', 'ai.settings']);

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
  /** Delta-mode sockets: every event but `printer.state`, plus `printers.patch`. */
  const deltaClients = new Set<WebSocket>();
  const delta = createDeltaPublisher(opts, (text) => {
    for (const ws of deltaClients) send(ws, text);
  });
  /** Who opened each socket (set before the snapshot, so a revocation during it counts too). */
  const owners = new Map<WebSocket, AuthUser | null>();
  const limit = opts.maxBufferedBytes ?? 4 * 1024 * 1024;
  const owner = {};

  const send = (ws: WebSocket, text: string) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > limit) {
      opts.logger.warn({ buffered: ws.bufferedAmount }, 'dropping a slow WebSocket client');
      clients.delete(ws);
      deltaClients.delete(ws);
      ws.terminate();
      return;
    }
    ws.send(text);
  };

  opts.bus.onAny(owner, (event) => {
    if (hidden.has(event.type)) return;
    delta?.observe(event);
    const isState = event.type === 'printer.state';
    if (!clients.size && (isState || !deltaClients.size)) return;
    // Serialise once per event, not once per client.
    const text = JSON.stringify({ type: event.type, data: opts.present ? opts.present(event) : event.data, at: event.at });
    for (const ws of clients) send(ws, text);
    if (!isState) for (const ws of deltaClients) send(ws, text);
  }, 'all');

  // Revoked credentials close their sockets at once (docs: auth.revoked).
  opts.bus.on('auth.revoked', owner, (event) => {
    for (const [ws, user] of owners) {
      if (!revokes(event, user)) continue;
      clients.delete(ws);
      deltaClients.delete(ws);
      owners.delete(ws);
      ws.close(WS_CLOSE_REVOKED, 'credentials revoked');
    }
  }, 'all');

  app.addHook('onClose', async () => {
    opts.bus.removeListeners(owner);
    delta?.close();
    for (const ws of [...clients, ...deltaClients]) ws.close(1001, 'server shutting down');
  });

  const wsHandler = (socket: unknown, request: FastifyRequest) => {
    const ws = socket as WebSocket;
    owners.set(ws, request.user);
    const wantsDelta = !!delta && new URL(request.url, 'http://x').searchParams.get('delta') === '1';
    // Events that arrive while the snapshot is being built wait until it is sent, so none is lost.
    const early: string[] = [];
    let ready = false;
    const bufferEarly = (event: DomainEvent) => {
      if (!ready && !hidden.has(event.type) && !(wantsDelta && event.type === 'printer.state')) {
        early.push(JSON.stringify({ type: event.type, data: opts.present ? opts.present(event) : event.data, at: event.at }));
      }
    };
    const earlyOwner = {};
    opts.bus.onAny(earlyOwner, bufferEarly, 'all');
    // A delta client starts from the states the next patch is relative to (taken now, synchronously),
    // and patches made while its snapshot is built wait with the other early events.
    const baseline = wantsDelta ? delta!.join((text) => !ready && early.push(text)) : null;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      clients.delete(ws);
      deltaClients.delete(ws);
      owners.delete(ws);
      opts.bus.removeListeners(earlyOwner);
      if (baseline) delta!.leave(baseline.token);
    };
    ws.on('close', leave);
    ws.on('error', leave);
    ws.on('message', (msg) => {
      if (String(msg) === 'ping') send(ws, JSON.stringify({ type: 'pong', data: {}, at: new Date().toISOString() }));
    });
    opts
      .snapshot()
      .then((data) => {
        if (baseline) withBaseline(data, baseline.states);
        send(ws, JSON.stringify({ type: 'snapshot', data, at: new Date().toISOString() }));
        ready = true;
        opts.bus.removeListeners(earlyOwner);
        if (baseline) delta!.stopBuffering(baseline.token);
        for (const text of early) send(ws, text);
        if (ws.readyState === ws.OPEN && owners.has(ws)) (wantsDelta ? deltaClients : clients).add(ws);
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
        'WebSocket (send Upgrade: websocket; token as ?token= or Sec-WebSocket-Protocol): a snapshot, then every event as {type, data, at}; with ?delta=1 printer states come as one `printers.patch` per second holding only what changed',
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

/** Puts the delta baseline's printer states into a snapshot (`{printers: [{id, state}]}`). */
function withBaseline(data: unknown, states: Record<string, unknown>): void {
  const printers = (data as { printers?: Array<{ id: string; state: unknown }> } | null)?.printers;
  if (!Array.isArray(printers)) return;
  for (const p of printers) if (p && p.id in states) p.state = states[p.id];
}

interface DeltaPublisher {
  observe(event: DomainEvent): void;
  /** A delta client joins: the baseline states (a copy) and a token; `buffer` gets patches until stopBuffering. */
  join(buffer: (text: string) => void): { token: object; states: Record<string, unknown> };
  stopBuffering(token: object): void;
  leave(token: object): void;
  close(): void;
}

/**
 * Keeps, while any delta client is connected, the last state each printer was sent as (the
 * baseline) and the newest `printer.state` per printer since; every `flushMs` it sends one
 * `printers.patch` with the diff of each changed printer. All delta clients share one baseline, so a
 * patch is computed and serialised once however many tabs are open.
 */
function createDeltaPublisher(opts: WsHubOptions, broadcast: (text: string) => void): DeltaPublisher | null {
  if (!opts.delta) return null;
  const source = opts.delta;
  let baseline: Map<string, unknown> | null = null;
  const dirty = new Map<string, DomainEvent>();
  const members = new Set<object>();
  const buffers = new Map<object, (text: string) => void>();
  let timer: NodeJS.Timeout | null = null;

  const flush = () => {
    if (!baseline || !dirty.size) return;
    const out: Record<string, unknown> = {};
    let any = false;
    for (const [id, event] of dirty) {
      const shown = (opts.present ? opts.present(event) : event.data) as { state?: unknown };
      // A copy: drivers may reuse nested objects, and the baseline must stay what was sent.
      const state = structuredClone(shown?.state);
      const d = diffState(baseline.get(id), state);
      if (d === undefined) continue;
      out[id] = d;
      baseline.set(id, state);
      any = true;
    }
    dirty.clear();
    if (!any) return;
    const text = JSON.stringify({ type: 'printers.patch', data: out, at: new Date().toISOString() });
    broadcast(text);
    for (const b of buffers.values()) b(text);
  };

  return {
    observe(event) {
      if (!baseline) return;
      if (event.type === 'printer.state') dirty.set((event.data as { printerId: string }).printerId, event);
      else if (event.type === 'printer.removed') {
        const id = (event.data as { printerId: string }).printerId;
        baseline.delete(id);
        dirty.delete(id);
      }
    },
    join(buffer) {
      if (!baseline) {
        baseline = new Map([...source.currentStates()].map(([id, st]) => [id, structuredClone(st)]));
        timer = setInterval(flush, source.flushMs ?? 1000);
        timer.unref?.();
      }
      const token = {};
      members.add(token);
      buffers.set(token, buffer);
      return { token, states: structuredClone(Object.fromEntries(baseline)) };
    },
    stopBuffering(token) {
      buffers.delete(token);
    },
    leave(token) {
      members.delete(token);
      buffers.delete(token);
      if (members.size) return;
      if (timer) clearInterval(timer);
      timer = null;
      baseline = null;
      dirty.clear();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = null;
      baseline = null;
    },
  };
}
