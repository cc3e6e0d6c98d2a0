import { type Socket, io } from 'socket.io-client';
import { reactive } from 'vue';
import { tokens } from './auth-tokens.ts';
import { ApiRequestError, authHeader, refreshTokens } from './http.ts';

/** One method of the loaded project (GET /api/v1/robot `methods`). */
export interface RobotMethod {
  object: string;
  name: string;
  params: Array<{ name: string; required: boolean; default?: unknown }>;
  motion: boolean;
  doc: string | null;
}

export interface RobotStatus {
  controller: { username: string; role: string; via: string; since: string } | null;
  observers: number;
  project: {
    source: 'default' | 'upload';
    name: string | null;
    language: 'python' | 'node';
    entry: string;
    updatedAt: string | null;
    updatedBy: string | null;
    requirements: { packages: string[]; refused: Array<{ line: string; reason: string }>; installed: boolean } | null;
  } | null;
  methods: RobotMethod[];
  worker: {
    state: string;
    pid: number | null;
    runtime: { runtime: string; version: string } | null;
    restarts: number;
    lastError: { code: string; message: string; traceback?: string; at: string } | null;
    busy: { call: string; since: string } | null;
    queued: number;
  };
  deadman: { armed: boolean; timeoutMs: number };
  you?: { username: string; role: string; controller: boolean };
}

/** The robot protocol's answer (seed 003). */
export interface RobotAck {
  status: 'success' | 'error';
  message: string;
  data: any;
}

export interface PushedEvent {
  name: string;
  count: number;
  last: unknown;
  at: number;
}

export interface LogLine {
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  at: string;
}

const MAX_LOG = 500;
const HEARTBEAT_MS = 200;

/** Socket.IO's path next to the page (the app may be served under a sub-path). */
function socketPath(): string {
  return new URL('socket.io', document.baseURI).pathname;
}

/**
 * The console's connection to the /robot namespace. It joins as an observer (opening the page
 * never takes control); `takeControl` claims it. While in control it sends a heartbeat every
 * 200 ms, so the server's deadman only fires when this tab really goes away.
 */
export function connectRobot() {
  const state = reactive({
    connected: false,
    error: null as { code: string; message: string } | null,
    status: null as RobotStatus | null,
    events: {} as Record<string, PushedEvent>,
    logs: [] as LogLine[],
  });
  const socket: Socket = io(`${window.location.origin}/robot`, {
    path: socketPath(),
    // A function: every (re)connect sends the current access token, never a stale one.
    auth: (cb) => cb({ token: tokens.value?.accessToken ?? '', observe: true }),
    transports: ['websocket', 'polling'],
  });

  const addLog = (stream: LogLine['stream'], line: string, at = new Date().toISOString()) => {
    state.logs.push({ stream, line, at });
    if (state.logs.length > MAX_LOG) state.logs.splice(0, state.logs.length - MAX_LOG);
  };

  socket.on('connect', () => {
    state.connected = true;
    state.error = null;
  });
  socket.on('disconnect', () => {
    state.connected = false;
  });
  socket.on('connect_error', async (err: Error & { data?: { code?: string } }) => {
    state.connected = false;
    state.error = { code: err.data?.code ?? 'connect_error', message: err.message };
    if (err.data?.code === 'token_expired' && (await refreshTokens())) socket.connect();
  });
  socket.on('robot.state', (s: RobotStatus) => {
    state.status = s;
  });
  socket.on('robot.log', (p: { lines: LogLine[] }) => {
    for (const l of p.lines) addLog(l.stream, l.line, l.at);
  });
  socket.on('robot.stopped', (p: { reason: string; by?: string; outcome: string; ms: number }) => {
    addLog('system', `stop (${p.reason}${p.by ? `, ${p.by}` : ''}): ${p.outcome} in ${p.ms} ms`);
  });
  socket.on('robot.taken_over', (p: { by: string }) => addLog('system', `control taken over by ${p.by}`));
  socket.on('robot.revoked', (p: { reason: string }) => addLog('system', `credentials revoked: ${p.reason}`));
  socket.onAny((name: string, data: unknown) => {
    if (name.startsWith('robot.')) return;
    const e = state.events[name];
    if (e) {
      e.count++;
      e.last = data;
      e.at = Date.now();
    } else state.events[name] = { name, count: 1, last: data, at: Date.now() };
  });

  const heartbeat = setInterval(() => {
    if (state.connected && state.status?.you?.controller) socket.emit('heartbeat');
  }, HEARTBEAT_MS);

  /** Sends an event and waits for its ack; a dead link answers a readable error instead of hanging. */
  async function ask(event: string, payload?: unknown, timeoutMs = 120_000): Promise<RobotAck> {
    try {
      return (await socket.timeout(timeoutMs).emitWithAck(event, payload ?? {})) as RobotAck;
    } catch {
      return { status: 'error', message: state.connected ? 'no answer from the server' : 'not connected', data: { code: 'no_answer' } };
    }
  }

  return {
    state,
    ask,
    close() {
      clearInterval(heartbeat);
      socket.close();
    },
  };
}

/** POST /api/v1/robot/projects (multipart); answers the projectId for `update {projectId}`. */
export async function uploadProject(file: File): Promise<{ projectId: string; name: string; files: number; entry: string }> {
  const send = () => {
    const form = new FormData();
    form.append('file', file, file.name);
    return fetch('api/v1/robot/projects', { method: 'POST', headers: authHeader(), body: form });
  };
  let res = await send();
  if (res.status === 401 && (await refreshTokens())) res = await send();
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiRequestError(res.status, body?.error?.code ?? `http_${res.status}`, body?.error?.message ?? `HTTP ${res.status}`);
  return body;
}
