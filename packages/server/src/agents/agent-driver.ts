/**
 * `driver: "agent"`: a printer that an edge agent runs. The server-side driver holds the mirror of
 * the agent's printer state and turns commands into outbox commands. While the agent's link is down
 * the printer is `unknown` and stale (the gatekeeper gives it nothing); while the agent replays what
 * happened offline it is stale too (historical states never open a gate), and live again once the
 * agent has caught up.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ValidationError } from '../errors.ts';
import {
  DriverError,
  type DriverContext,
  type PrinterDriver,
  type PrinterDriverCapability,
  type StartJobRequest,
  StartNotConfirmedError,
} from '../printers/driver.ts';
import { type PrinterState, initialPrinterState } from '../printers/model.ts';
import { CommandUnconfirmedError, type SubmitOptions } from './outbox.ts';
import { AGENT_ID_PATTERN, AGENT_PRINTER_ID_PATTERN, type CommandKind, type StartJobArgs } from './protocol.ts';
import { mergeTelemetry, sanitizeState } from './wire-state.ts';

/** What the driver needs from the hub. */
export interface AgentLinks {
  attach(driver: AgentDriver): void;
  detach(driver: AgentDriver): void;
  link(agentId: string, printerId: string): AgentLinkState;
  command(opts: SubmitOptions): Promise<void>;
  /** How long an agent may take from accepting a start to starting it (its download included). */
  readonly startDeadlineSeconds: number;
}

export interface AgentLinkState {
  known: boolean;
  name: string;
  revoked: boolean;
  online: boolean;
  /** Online and caught up with its journal: states are current, not history. */
  live: boolean;
  /** The agent's last hello lists this printer. */
  hasPrinter: boolean;
  offlineSince: number | null;
}

/** `connection` of an agent printer: which agent, which of its printers, what it is there. */
export interface AgentPrinterConnection {
  agentId: string;
  printerId: string;
  /** The agent-side driver kind (informative). */
  kind?: string;
  fileKinds?: string[];
}

export function parseAgentConnection(input: unknown): AgentPrinterConnection {
  const c = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  if (typeof c.agentId !== 'string' || !AGENT_ID_PATTERN.test(c.agentId)) {
    throw new ValidationError('connection.agentId', 'must be the id of an agent (GET /api/v1/agents)');
  }
  if (typeof c.printerId !== 'string' || !AGENT_PRINTER_ID_PATTERN.test(c.printerId)) {
    throw new ValidationError('connection.printerId', "must be the printer's id in the agent's configuration");
  }
  const out: AgentPrinterConnection = { agentId: c.agentId, printerId: c.printerId };
  if (c.kind !== undefined) {
    if (typeof c.kind !== 'string' || c.kind.length > 50) throw new ValidationError('connection.kind', 'must be a driver name');
    out.kind = c.kind;
  }
  if (c.fileKinds !== undefined) {
    if (!Array.isArray(c.fileKinds) || !c.fileKinds.every((k) => k === 'gcode' || k === '3mf')) {
      throw new ValidationError('connection.fileKinds', 'must be a list of "gcode" and/or "3mf"');
    }
    out.fileKinds = [...new Set(c.fileKinds as string[])];
  }
  return out;
}

/** Control commands end within this once the agent began them. */
const CONTROL_DEADLINE_SECONDS = 120;

export class AgentDriver implements PrinterDriver {
  readonly announcesStartCommand = true;
  readonly agentId: string;
  readonly agentPrinterId: string;
  readonly printerId: string;
  #mirror: PrinterState | null = null;
  #started = false;

  constructor(
    private readonly ctx: DriverContext,
    private readonly links: AgentLinks,
  ) {
    const c = parseAgentConnection(ctx.connection);
    this.agentId = c.agentId;
    this.agentPrinterId = c.printerId;
    this.printerId = ctx.printerId;
  }

  async start(): Promise<void> {
    this.#started = true;
    this.links.attach(this);
    this.refresh();
  }

  async stop(): Promise<void> {
    this.#started = false;
    this.links.detach(this);
  }

  getState(): PrinterState {
    const link = this.links.link(this.agentId, this.agentPrinterId);
    const base = initialPrinterState();
    if (!link.known) return { ...base, connectionNote: `no agent with id ${this.agentId}` };
    if (link.revoked) return { ...base, connectionNote: `agent "${link.name}" was revoked` };
    if (!this.#mirror) {
      if (link.online && !link.hasPrinter) return { ...base, connectionNote: `agent "${link.name}" does not run a printer "${this.agentPrinterId}"` };
      return link.online
        ? { ...base, status: 'connecting', connectionNote: `agent "${link.name}" is linked; waiting for the printer's state` }
        : { ...base, connectionNote: `waiting for agent "${link.name}" to connect` };
    }
    if (!link.online) {
      const since = link.offlineSince ? ` since ${new Date(link.offlineSince).toISOString()}` : '';
      return { ...this.#mirror, status: 'unknown', stale: true, connectionNote: `agent "${link.name}" is offline${since}` };
    }
    if (!link.hasPrinter) return { ...base, connectionNote: `agent "${link.name}" no longer runs printer "${this.agentPrinterId}"` };
    if (!link.live) return { ...this.#mirror, stale: true, connectionNote: `agent "${link.name}" is replaying what happened while it was offline` };
    return this.#mirror;
  }

  /** A state event from the agent (live or replayed, in order). */
  applyState(raw: unknown): void {
    this.#mirror = sanitizeState(raw);
    this.refresh();
  }

  /** Telemetry: changed fields, or a complete state when `full`. */
  applyTelemetry(raw: Record<string, unknown>, full: boolean): void {
    this.#mirror = full ? sanitizeState(raw) : mergeTelemetry(this.#mirror ?? initialPrinterState(), raw);
    this.refresh();
  }

  /** The link changed (online, live, revoked): tell the fleet. */
  refresh(): void {
    if (this.#started) this.ctx.onState(this.getState());
  }

  async startJob(req: StartJobRequest): Promise<void> {
    const args: StartJobArgs = {
      jobId: req.jobId,
      sha256: req.fileSha256 ?? (await sha256OfFile(req.localPath)),
      fileName: req.fileName,
      fileSize: req.fileSize,
      fileMd5: req.fileMd5,
      plate: req.plate,
      gcodePath: req.gcodePath,
      overrides: req.overrides,
      jobName: req.jobName,
    };
    try {
      await this.links.command({
        agentId: this.agentId,
        printerId: this.agentPrinterId,
        kind: 'startJob',
        args: args as unknown as Record<string, unknown>,
        deadlineSeconds: this.links.startDeadlineSeconds,
        fileSha256: args.sha256,
        beforeFirstSend: req.beforeStartCommand,
        onProgress: req.onUploadProgress,
      });
    } catch (err) {
      // Not confirmed either way: the queue must not send it again blindly (it holds the printer).
      if (err instanceof CommandUnconfirmedError || (err instanceof DriverError && err.code === 'start_not_confirmed')) {
        throw new StartNotConfirmedError(err.message);
      }
      throw err;
    }
  }

  #control(kind: CommandKind, args: Record<string, unknown> = {}): Promise<void> {
    return this.links.command({ agentId: this.agentId, printerId: this.agentPrinterId, kind, args, deadlineSeconds: CONTROL_DEADLINE_SECONDS });
  }

  pause = () => this.#control('pause');
  resume = () => this.#control('resume');
  cancel = () => this.#control('cancel');
  clearError = () => this.#control('clearError');
  sendGcode = (lines: string[]) => this.#control('sendGcode', { lines });

  async snapshot(): Promise<Buffer | null> {
    throw new DriverError('not_supported', 'camera frames of agent printers are not relayed to the server yet');
  }
}

async function sha256OfFile(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The `agent` printer driver kind, bound to the hub. */
export function agentDriverCapability(links: AgentLinks): PrinterDriverCapability {
  return {
    validateConnection: (connection) => ({ ...parseAgentConnection(connection) }),
    secretFields: [],
    fileKindsOf: (connection) => (Array.isArray(connection.fileKinds) ? (connection.fileKinds as string[]) : undefined),
    create: (ctx) => new AgentDriver(ctx, links),
  };
}
