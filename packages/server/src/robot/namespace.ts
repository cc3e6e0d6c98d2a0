import type { Namespace, Socket, Server as SocketIoServer } from 'socket.io';
import type { AuthService } from '../auth/auth-service.ts';
import { type AuthUser, roleAllows } from '../auth/roles.ts';
import { isDomainError, unauthorized } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { ControlHolder } from './control-lock.ts';
import { type Ack, type RobotRuntime, fail, ok } from './runtime.ts';
import { revokes } from '../http/ws-hub.ts';

export const ROBOT_NAMESPACE = '/robot';
const ROOM = 'robot';
/** Engine.IO packets a client may have unsent before pushes to it are dropped (a slow reader never slows the robot). */
const MAX_UNSENT_PACKETS = 2000;

interface SocketData {
  user: AuthUser;
  wantsControl: boolean;
  takeover: boolean;
}

type RobotSocket = Socket<any, any, any, SocketData>;

/** A connect_error the client can read: `err.message` and `err.data.code`. */
function connectError(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  const err = new Error(message) as Error & { data?: unknown };
  err.data = { code, ...extra };
  return err;
}

/**
 * Credentials come from the handshake's `auth.token` only (a JWT access token or an API key);
 * a token in the query string is refused, since query strings end up in logs.
 */
export async function authenticateHandshake(handshake: Socket['handshake'], auth: AuthService): Promise<AuthUser> {
  const raw = (handshake.auth as Record<string, unknown> | undefined)?.token;
  if (typeof raw !== 'string' || !raw.trim()) {
    const q = handshake.query as Record<string, unknown>;
    if (q?.token !== undefined || q?.apiKey !== undefined || q?.access_token !== undefined) {
      throw unauthorized('credentials in the query string are not accepted (they end up in logs): send them as auth.token', 'query_credentials');
    }
    throw unauthorized('send a JWT access token or an API key as auth.token in the Socket.IO handshake');
  }
  const token = raw.trim().replace(/^Bearer\s+/i, '');
  return token.split('.').length === 3 ? auth.verifyAccessToken(token) : auth.verifyApiKey(token);
}

const holderView = (h: ControlHolder) => ({ username: h.user.username, role: h.user.role, since: new Date(h.since).toISOString() });

/**
 * The `/robot` namespace (docs/api.md, Robot; seed 003 protocol): one controller, any number of
 * observers. Operators connect as the controller unless they ask to observe (`auth.observe`);
 * viewers always observe. A second controller is refused naming the holder; `auth.takeover: true`
 * (operator role) runs the project's stop() and disconnects the old controller. Every controller
 * message feeds the deadman; its disconnect runs stop().
 */
export function mountRobotNamespace(opts: {
  io: SocketIoServer;
  runtime: RobotRuntime;
  auth: AuthService;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  /** Owner key of the bus listeners (removed on close). */
  owner: object;
}): Namespace {
  const { io, runtime: rt, clock } = opts;
  // The default namespace has nothing to offer: refuse it so clients learn the right one.
  io.of('/').use((_socket, next) => next(connectError('wrong_namespace', `connect to the ${ROBOT_NAMESPACE} namespace (io("http://host:port${ROBOT_NAMESPACE}"))`)));
  const nsp = io.of(ROBOT_NAMESPACE);

  const slowSockets = (): string[] => {
    const slow: string[] = [];
    for (const s of nsp.sockets.values()) {
      const buffered = (s.conn as unknown as { writeBuffer?: unknown[] }).writeBuffer?.length ?? 0;
      if (buffered > MAX_UNSENT_PACKETS) slow.push(s.id);
    }
    return slow;
  };
  const stateFor = (s: RobotSocket, base = rt.status()) => ({
    ...base,
    you: { username: s.data.user.username, role: s.data.user.role, controller: rt.lock.isHolder(s.id) },
  });
  rt.setBroadcaster({
    emit: (event, data) => {
      const slow = slowSockets();
      (slow.length ? nsp.to(ROOM).except(slow) : nsp.to(ROOM)).emit(event, data);
    },
    state: () => {
      if (!nsp.sockets.size) return;
      const base = rt.status();
      for (const s of nsp.sockets.values()) if (s.data?.user) s.emit('robot.state', stateFor(s as RobotSocket, base));
    },
    observers: () => [...nsp.sockets.values()].filter((s) => !rt.lock.isHolder(s.id)).length,
  });
  // A takeover's, release's or disconnect's stop() must finish before the next controller's commands
  // run: control is free at once (a reconnect is not refused), but a stop() still running would
  // otherwise drop or halt what the new controller just asked for.
  let settling: Promise<unknown> = Promise.resolve();
  const stopBeforeNext = (reason: 'disconnect' | 'release', user: AuthUser) => {
    const stopping = rt.stopFor(reason, user);
    settling = stopping.catch(() => {});
    return stopping;
  };

  nsp.use(async (socket: RobotSocket, next) => {
    try {
      const user = await authenticateHandshake(socket.handshake, opts.auth);
      const a = (socket.handshake.auth ?? {}) as Record<string, unknown>;
      const observe = a.observe === true || a.role === 'observer' || !roleAllows(user.role, 'operator');
      const takeover = a.takeover === true;
      socket.data = { user, wantsControl: !observe, takeover };
      const holder = rt.lock.holder;
      if (!observe && holder && !takeover) {
        return next(
          connectError(
            'robot_busy',
            `the robot is controlled by ${holder.user.username} since ${new Date(holder.since).toISOString()}; ` +
              'connect with auth.takeover = true to take over, or auth.observe = true to watch',
            { holder: holderView(holder) },
          ),
        );
      }
      next();
    } catch (err) {
      const code = isDomainError(err) ? err.code : 'unauthorized';
      next(connectError(code, isDomainError(err) ? err.message : 'credentials are not valid'));
    }
  });

  async function takeControl(socket: RobotSocket, takeover: boolean): Promise<Ack> {
    const user = socket.data.user;
    const res = rt.lock.claim(socket.id, user, { takeover, now: clock.now() });
    if (!res.granted) {
      return res.reason === 'role'
        ? fail('forbidden', `controlling the robot needs the operator role; you are ${user.role}`)
        : fail('robot_busy', `the robot is controlled by ${res.holder.user.username} since ${new Date(res.holder.since).toISOString()}; send take_control {takeover: true} to take over`, {
            holder: holderView(res.holder),
          });
    }
    if (res.displaced) {
      const old = nsp.sockets.get(res.displaced.socketId);
      rt.log('system', `${user.username} took control over from ${res.displaced.user.username}`);
      old?.emit('robot.taken_over', { by: user.username, at: new Date(clock.now()).toISOString() });
      const stopping = rt.stopFor('takeover', res.displaced.user);
      settling = stopping.catch(() => {});
      await stopping;
      old?.disconnect(true);
    } else {
      rt.log('system', `${user.username} has control`);
    }
    rt.broadcastState();
    return ok('you have control', { controller: holderView(rt.lock.holder!) });
  }

  nsp.on('connection', (socket: RobotSocket) => {
    const user = socket.data.user;
    void socket.join(ROOM);
    const isController = () => rt.lock.isHolder(socket.id);

    // Every message of the controller proves it is alive (deadman).
    socket.use((_packet, next) => {
      if (isController()) rt.deadman.touch();
      next();
    });

    /** Registers an event answered through the ack, whatever the client sent (with or without data). */
    const handle = (event: string, need: 'controller' | 'operator' | 'any', fn: (payload: unknown) => Promise<Ack> | Ack) => {
      socket.on(event, async (...args: unknown[]) => {
        const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (a: Ack) => void) : () => {};
        let answer: Ack;
        if (need === 'controller' && !isController()) {
          const h = rt.lock.holder;
          answer = fail('not_controller', h ? `${event} needs control; ${h.user.username} has it` : `${event} needs control: send take_control first`);
        } else if (need === 'operator' && !roleAllows(user.role, 'operator')) {
          answer = fail('forbidden', `${event} needs the operator role; you are ${user.role}`);
        } else {
          try {
            if (need === 'controller') await settling;
            answer = await fn(args[0]);
          } catch (err) {
            opts.logger.error({ err, part: 'robot', event }, 'robot event failed');
            answer = fail('internal_error', `internal error: ${(err as Error).message}`);
          }
        }
        ack(answer);
      });
    };

    handle('update', 'controller', (p) => rt.update(p, user));
    handle('start', 'controller', () => rt.startProject());
    handle('process', 'controller', (p) => rt.process(p));
    handle('estop', 'operator', () => rt.estop(user));
    handle('heartbeat', 'controller', () => ok('alive', { deadman: rt.deadman.armed }));
    handle('take_control', 'operator', (p) => takeControl(socket, (p as { takeover?: unknown } | null)?.takeover === true));
    handle('release_control', 'controller', async () => {
      rt.lock.release(socket.id);
      const stopped = await stopBeforeNext('release', user);
      rt.broadcastState();
      return ok('control released', { stopped });
    });

    socket.on('disconnect', () => {
      if (!rt.lock.release(socket.id)) return rt.broadcastState();
      rt.log('system', `${user.username} disconnected; running stop()`);
      void stopBeforeNext('disconnect', user)
        .catch(() => {})
        .finally(() => rt.broadcastState());
    });

    void (async () => {
      if (socket.data.wantsControl) {
        const claimed = await takeControl(socket, socket.data.takeover);
        // Two controllers raced through the handshake: the later one is refused here.
        if (claimed.status === 'error') {
          socket.emit('robot.refused', claimed);
          socket.disconnect(true);
          return;
        }
      } else {
        rt.broadcastState();
      }
      socket.emit('robot.log', { lines: rt.recentLogs() });
      rt.warmUp();
    })();
  });

  // Revoked credentials (logout, deleted user, revoked API key) end their sockets at once.
  const owner = opts.owner;
  opts.bus.on('auth.revoked', owner, (event) => {
    for (const s of nsp.sockets.values()) {
      // The same rule as the WebSocket hub: a user's revocation also covers the API keys they made.
      if (revokes(event, (s as RobotSocket).data?.user)) {
        s.emit('robot.revoked', { reason: event.reason });
        s.disconnect(true);
      }
    }
    // 'all': a revocation made through another server process closes the sockets held here too.
  }, 'all');
  return nsp;
}
