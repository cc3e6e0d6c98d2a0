import { type Socket, io } from 'socket.io-client';
import type { Config } from '../../src/config/config.ts';
import { buildZip } from '../library/zip-writer.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';

export interface RobotTestServer {
  s: TestServer;
  /** Admin access token. */
  admin: string;
  /** Operator and viewer access tokens. */
  operator: string;
  operator2: string;
  viewer: string;
}

/** A server (SQLite, temp dir, loopback) with an admin, two operators and a viewer. */
export async function startRobotServer(config: Partial<Config> = {}): Promise<RobotTestServer> {
  const s = await startTestServer({ config });
  const admin = (await setupAdmin(s)).accessToken;
  const tokens: string[] = [];
  for (const [username, role] of [
    ['olga', 'operator'],
    ['oscar', 'operator'],
    ['vera', 'viewer'],
  ] as const) {
    const created = await s.api('POST', '/api/v1/users', { token: admin, body: { username, password: 'long-enough-pw', role } });
    if (created.status !== 201) throw new Error(`user ${username}: ${created.status} ${JSON.stringify(created.body)}`);
    const login = await s.api('POST', '/api/v1/auth/login', { body: { username, password: 'long-enough-pw' } });
    tokens.push(login.body.accessToken);
  }
  return { s, admin, operator: tokens[0], operator2: tokens[1], viewer: tokens[2] };
}

export interface ConnectOptions {
  token?: string;
  observe?: boolean;
  takeover?: boolean;
  query?: Record<string, string>;
  transports?: Array<'websocket' | 'polling'>;
}

/** Connects to /robot; resolves once connected, rejects with the connect_error (message and data). */
export function connectRobot(url: string, opts: ConnectOptions = {}): Promise<Socket> {
  const auth: Record<string, unknown> = {};
  if (opts.token !== undefined) auth.token = opts.token;
  if (opts.observe) auth.observe = true;
  if (opts.takeover) auth.takeover = true;
  const socket = io(`${url}/robot`, {
    auth,
    query: opts.query,
    transports: opts.transports ?? ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      socket.close();
      reject(err);
    });
  });
}

export interface Ack {
  status: 'success' | 'error';
  message: string;
  data: any;
}

/** Emits an event and waits for its ack. */
export function ask(socket: Socket, event: string, payload?: unknown, timeoutMs = 30_000): Promise<Ack> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<Ack>;
}

export const processCall = (socket: Socket, object: string, method: string, args: unknown = {}, timeoutMs?: number) =>
  ask(socket, 'process', { params: { object, method, args } }, timeoutMs);

/** A project ZIP (base64) from file contents. */
export function projectZip(files: Record<string, string>): string {
  return buildZip(Object.entries(files).map(([name, data]) => ({ name, data }))).toString('base64');
}

/** Collects every event of `name` a socket receives. */
export function collect<T = any>(socket: Socket, name: string): T[] {
  const seen: T[] = [];
  socket.on(name, (data: T) => seen.push(data));
  return seen;
}
