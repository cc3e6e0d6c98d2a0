import type { Server as HttpServer } from 'node:http';
import type { Server as SocketIoServer } from 'socket.io';
import type { Infra } from '../app-context.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { RouteModule } from '../http/app.ts';
import { mountRobotNamespace } from './namespace.ts';
import { robotRoutes } from './routes.ts';
import { RobotRuntime } from './runtime.ts';
import { attachSocketIo } from './socket-server.ts';

export interface RobotPart {
  runtime: RobotRuntime;
  /** /api/v1/robot… for buildApp. */
  routes: RouteModule;
  /** Attaches the `/robot` Socket.IO namespace to the main HTTP server (before it listens). */
  attach(server: HttpServer): SocketIoServer;
  /** The Socket.IO server once attached (other namespaces may be mounted on it), else null. */
  readonly io: SocketIoServer | null;
  close(): Promise<void>;
}

/**
 * The robot part (seed 003): runtime, HTTP routes and the Socket.IO namespace, in the server's own
 * process and port, behind the same auth. The worker starts on first need (a client connects, a
 * call arrives), or at once with `autostart` (demo mode).
 */
export function createRobot(opts: { infra: Infra; auth: AuthService; autostart: boolean }): RobotPart {
  const { infra } = opts;
  const logger = infra.logger.child({ part: 'robot' });
  const runtime = new RobotRuntime({ config: infra.config, bus: infra.bus, clock: infra.clock, logger });
  runtime.start({ autostart: opts.autostart });
  let io: SocketIoServer | null = null;
  let closing: Promise<void> | null = null;
  const owner = {};
  return {
    runtime,
    get io() {
      return io;
    },
    routes: { prefix: '/api/v1', plugin: robotRoutes, opts: { runtime } },
    attach(server) {
      // base64 grows the ZIP by 4/3; leave room for the JSON around it.
      const maxHttpBufferSize = Math.ceil((infra.config.robotMaxProjectBytes * 4) / 3) + 64 * 1024;
      io = attachSocketIo(server, { maxHttpBufferSize });
      mountRobotNamespace({ io, runtime, auth: opts.auth, bus: infra.bus, clock: infra.clock, logger, owner });
      return io;
    },
    close() {
      closing ??= (async () => {
        infra.bus.removeListeners(owner);
        if (io) {
          // Not io.close(): that would also close the HTTP server, which Fastify owns.
          io.of('/robot').disconnectSockets(true);
          io.engine.close();
        }
        await runtime.close();
      })();
      return closing;
    },
  };
}
