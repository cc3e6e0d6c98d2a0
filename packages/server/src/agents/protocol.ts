/**
 * The agent link protocol, version 1 (docs/agent-protocol.md): MQTT topics and JSON payloads between
 * an edge agent and the server. Both ends import this file, so names and shapes cannot drift.
 *
 * Everything lives under `rwc/agents/<agentId>/`, where agentId is the id of the agent's API key:
 * `up/<name>` is published by the agent, `down/<name>` by the server. Times on the wire are ms since
 * the epoch on the SERVER's clock (the agent corrects its own by the offset it learns in `welcome`).
 */
import type { JobOverrides } from '../printers/driver.ts';
import type { PrinterState } from '../printers/model.ts';

export const PROTOCOL_VERSION = 1;
export const AGENT_TOPIC_ROOT = 'rwc/agents';

/** Agent → server. */
export type UpName = 'hello' | 'event' | 'telemetry' | 'ack' | 'progress' | 'hb' | 'status';
/** Server → agent. */
export type DownName = 'welcome' | 'cmd' | 'estop' | 'evack' | 'resend' | 'sync';

const UP: readonly UpName[] = ['hello', 'event', 'telemetry', 'ack', 'progress', 'hb', 'status'];
const DOWN: readonly DownName[] = ['welcome', 'cmd', 'estop', 'evack', 'resend', 'sync'];

/** An agent id is one plain topic level: no wildcards, no separators. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Printer ids on an agent (its config file): the same rule. */
export const AGENT_PRINTER_ID_PATTERN = AGENT_ID_PATTERN;

export const upTopic = (agentId: string, name: UpName) => `${AGENT_TOPIC_ROOT}/${agentId}/up/${name}`;
export const downTopic = (agentId: string, name: DownName) => `${AGENT_TOPIC_ROOT}/${agentId}/down/${name}`;
/** What the server subscribes to: every agent's up topics. */
export const ALL_UP_FILTER = `${AGENT_TOPIC_ROOT}/+/up/#`;
/** What an agent subscribes to: its own down topics. */
export const downFilter = (agentId: string) => `${AGENT_TOPIC_ROOT}/${agentId}/down/#`;

export type ParsedTopic = { agentId: string; dir: 'up'; name: UpName } | { agentId: string; dir: 'down'; name: DownName };

/** Splits `rwc/agents/<id>/<up|down>/<name>`; null for anything else. */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== AGENT_TOPIC_ROOT) return null;
  const [, , agentId, dir, name] = parts as [string, string, string, string, string];
  if (!AGENT_ID_PATTERN.test(agentId)) return null;
  if (dir === 'up' && (UP as readonly string[]).includes(name)) return { agentId, dir, name: name as UpName };
  if (dir === 'down' && (DOWN as readonly string[]).includes(name)) return { agentId, dir, name: name as DownName };
  return null;
}

/** One printer the agent runs, as announced in `hello` (no connection details, no secrets). */
export interface AgentPrinterInfo {
  id: string;
  name: string;
  /** The agent-side driver kind: bambu, marlin, moonraker, simulated-…. */
  driver: string;
  model: string | null;
  /** File kinds the printer takes ('3mf', 'gcode'). */
  fileKinds: string[];
}

/** `up/hello` (QoS 1), sent on every (re)connect; the server answers `down/welcome`. */
export interface HelloMessage {
  v: number;
  /** Random per MQTT connection; the last will (`up/status`) carries the same, so a late will of an old connection is ignored. */
  conn: string;
  agentVersion: string;
  hostname: string;
  /** Random per journal (data dir); a new one means the seq numbers started again. */
  journalId: string;
  /** Oldest event still in the agent's journal (lastSeq + 1 when it is empty). */
  firstSeq: number;
  lastSeq: number;
  /** The agent's own clock, for the server's log of the skew. */
  now: number;
  printers: AgentPrinterInfo[];
}

/** `down/welcome` (QoS 1). */
export interface WelcomeMessage {
  v: number;
  conn: string;
  serverNow: number;
  /** The last event seq the server has applied; the agent replays everything after it, in order. */
  ackedSeq: number;
  heartbeatSeconds: number;
}

export type CommandKind = 'startJob' | 'pause' | 'resume' | 'cancel' | 'sendGcode' | 'clearError';
export const COMMAND_KINDS: readonly CommandKind[] = ['startJob', 'pause', 'resume', 'cancel', 'sendGcode', 'clearError'];

/** Arguments of `startJob`: the StartJobRequest without server paths; the file is fetched by sha256. */
export interface StartJobArgs {
  jobId: string;
  sha256: string;
  fileName: string;
  fileSize: number;
  fileMd5: string;
  plate: number;
  gcodePath: string | null;
  overrides: JobOverrides;
  jobName: string;
}

/**
 * `down/cmd` (QoS 1). `id` is the dispatch id: the agent executes an id at most once, ever (it keeps
 * a record on disk) and answers a repeat with the recorded result. It does not begin a command after
 * `expiresAt`; once begun it must end within `deadlineSeconds` (a start that cannot begin by then is
 * dropped, never started late).
 */
export interface CommandMessage {
  id: string;
  printerId: string;
  kind: CommandKind;
  args: Record<string, unknown>;
  /** When the server made it: a command made before an e-stop of its printer is never run. */
  createdAt: number;
  expiresAt: number;
  deadlineSeconds: number;
}

/** `down/estop` (QoS 1): its own topic, handled before and instead of anything queued for that printer. */
export interface EstopMessage {
  id: string;
  /** null = every printer of the agent. */
  printerId: string | null;
  createdAt: number;
  expiresAt: number;
}

export interface WireError {
  code: string;
  message: string;
}

/** Journaled on the agent, replayed in order after a drop, applied once by the server (by seq). */
export type AgentEvent =
  | { seq: number; at: number; kind: 'state'; printerId: string; state: PrinterState }
  | { seq: number; at: number; kind: 'result'; commandId: string; ok: boolean; error: WireError | null };

/** `up/telemetry` (QoS 0): changed fields per printer, applied only when the server is at `afterSeq`. */
export interface TelemetryMessage {
  afterSeq: number;
  at: number;
  /** Complete states (after a reconnect's replay, and now and then), not just the changes. */
  full: boolean;
  printers: Record<string, Partial<PrinterState>>;
}

/** `up/ack` (QoS 1): a command or e-stop arrived. */
export interface AckMessage {
  commandId: string;
  /** accepted: begun now · duplicate: seen before (result attached when known) · expired: arrived after expiresAt · rejected: invalid. */
  status: 'accepted' | 'duplicate' | 'expired' | 'rejected';
  result?: { ok: boolean; error: WireError | null } | null;
  error?: WireError | null;
}

/** `up/progress` (QoS 0): a start job's file download. */
export interface ProgressMessage {
  commandId: string;
  receivedBytes: number;
  totalBytes: number;
}

/** `up/hb` (QoS 0) every `heartbeatSeconds`. */
export interface HeartbeatMessage {
  lastSeq: number;
  at: number;
}

/** `up/status` (QoS 1, retained; also the last will with online=false). */
export interface StatusMessage {
  online: boolean;
  conn: string;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Parses one MQTT payload as a JSON object, or throws ProtocolError. */
export function parseJsonObject(payload: Buffer | string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    throw new ProtocolError('payload is not JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ProtocolError('payload is not a JSON object');
  return value as Record<string, unknown>;
}

export const isString = (v: unknown, max = 1000): v is string => typeof v === 'string' && v.length <= max;
export const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

function need<T>(ok: boolean, value: T, what: string): T {
  if (!ok) throw new ProtocolError(`bad or missing ${what}`);
  return value;
}

export function parseHello(o: Record<string, unknown>): HelloMessage {
  const printers = need(Array.isArray(o.printers) && o.printers.length <= 500, o.printers as unknown[], 'printers');
  return {
    v: need(typeof o.v === 'number', o.v as number, 'v'),
    conn: need(isString(o.conn, 100), o.conn as string, 'conn'),
    agentVersion: isString(o.agentVersion, 50) ? o.agentVersion : '?',
    hostname: isString(o.hostname, 255) ? o.hostname : '?',
    journalId: need(isString(o.journalId, 100) && o.journalId.length > 0, o.journalId as string, 'journalId'),
    firstSeq: need(isSeq(o.firstSeq), o.firstSeq as number, 'firstSeq'),
    lastSeq: need(isSeq(o.lastSeq), o.lastSeq as number, 'lastSeq'),
    now: isTime(o.now) ? o.now : 0,
    printers: printers.map((raw, i) => parsePrinterInfo(raw, `printers[${i}]`)),
  };
}

function parsePrinterInfo(raw: unknown, where: string): AgentPrinterInfo {
  const p = need(!!raw && typeof raw === 'object', raw as Record<string, unknown>, where);
  return {
    id: need(typeof p.id === 'string' && AGENT_PRINTER_ID_PATTERN.test(p.id), p.id as string, `${where}.id`),
    name: need(isString(p.name, 100) && p.name.length > 0, p.name as string, `${where}.name`),
    driver: need(isString(p.driver, 50) && p.driver.length > 0, p.driver as string, `${where}.driver`),
    model: isString(p.model, 50) ? p.model : null,
    fileKinds: Array.isArray(p.fileKinds) ? p.fileKinds.filter((k): k is string => isString(k, 20)).slice(0, 10) : [],
  };
}

export function parseEvent(o: Record<string, unknown>): AgentEvent {
  const seq = need(isSeq(o.seq) && (o.seq as number) > 0, o.seq as number, 'seq');
  const at = need(isTime(o.at), o.at as number, 'at');
  if (o.kind === 'state') {
    const printerId = need(typeof o.printerId === 'string' && AGENT_PRINTER_ID_PATTERN.test(o.printerId), o.printerId as string, 'printerId');
    need(!!o.state && typeof o.state === 'object', null, 'state');
    return { seq, at, kind: 'state', printerId, state: o.state as PrinterState };
  }
  if (o.kind === 'result') {
    return {
      seq,
      at,
      kind: 'result',
      commandId: need(isString(o.commandId, 100), o.commandId as string, 'commandId'),
      ok: o.ok === true,
      error: parseWireError(o.error),
    };
  }
  throw new ProtocolError(`unknown event kind ${JSON.stringify(o.kind)}`);
}

export function parseWireError(raw: unknown): WireError | null {
  if (!raw || typeof raw !== 'object') return null;
  const e = raw as Record<string, unknown>;
  return {
    code: isString(e.code, 100) ? e.code : 'agent_error',
    message: isString(e.message, 2000) ? e.message : 'the agent reported an error without a message',
  };
}

export function parseCommand(o: Record<string, unknown>): CommandMessage {
  return {
    id: need(isString(o.id, 100) && o.id.length > 0, o.id as string, 'id'),
    printerId: need(isString(o.printerId, 64), o.printerId as string, 'printerId'),
    kind: need((COMMAND_KINDS as readonly unknown[]).includes(o.kind), o.kind as CommandKind, 'kind'),
    args: need(!!o.args && typeof o.args === 'object' && !Array.isArray(o.args), o.args as Record<string, unknown>, 'args'),
    createdAt: need(isTime(o.createdAt), o.createdAt as number, 'createdAt'),
    expiresAt: need(isTime(o.expiresAt), o.expiresAt as number, 'expiresAt'),
    deadlineSeconds: need(typeof o.deadlineSeconds === 'number' && o.deadlineSeconds > 0, o.deadlineSeconds as number, 'deadlineSeconds'),
  };
}

export function parseEstop(o: Record<string, unknown>): EstopMessage {
  return {
    id: need(isString(o.id, 100) && o.id.length > 0, o.id as string, 'id'),
    printerId: o.printerId === null || o.printerId === undefined ? null : need(isString(o.printerId, 64), o.printerId as string, 'printerId'),
    createdAt: need(isTime(o.createdAt), o.createdAt as number, 'createdAt'),
    expiresAt: need(isTime(o.expiresAt), o.expiresAt as number, 'expiresAt'),
  };
}

/** Validates startJob arguments (agent side, before anything is downloaded). */
export function parseStartJobArgs(a: Record<string, unknown>): StartJobArgs {
  const o = (a.overrides ?? {}) as Record<string, unknown>;
  return {
    jobId: need(isString(a.jobId, 20) && /^\d+$/.test(a.jobId), a.jobId as string, 'args.jobId'),
    sha256: need(typeof a.sha256 === 'string' && /^[0-9a-f]{64}$/.test(a.sha256), a.sha256 as string, 'args.sha256'),
    fileName: need(isString(a.fileName, 255) && a.fileName.length > 0 && !/[/\\]/.test(a.fileName), a.fileName as string, 'args.fileName'),
    fileSize: need(isSeq(a.fileSize), a.fileSize as number, 'args.fileSize'),
    fileMd5: need(typeof a.fileMd5 === 'string' && /^[0-9a-f]{32}$/i.test(a.fileMd5), a.fileMd5 as string, 'args.fileMd5'),
    plate: need(isSeq(a.plate) && (a.plate as number) >= 1, a.plate as number, 'args.plate'),
    gcodePath: a.gcodePath === null ? null : need(isString(a.gcodePath, 500), a.gcodePath as string, 'args.gcodePath'),
    overrides: {
      bedLeveling: o.bedLeveling !== false,
      flowCalibration: o.flowCalibration !== false,
      timelapse: o.timelapse === true,
    },
    jobName: isString(a.jobName, 255) ? a.jobName : String(a.fileName),
  };
}
