import { ValidationError } from '../../errors.ts';
import type { SerialTarget } from './transport.ts';

export interface MarlinConnection {
  target: SerialTarget;
  /** No ok for this long while a line is in flight → tickle with M105 (OctoPrint: 30 s). */
  okTimeoutMs: number;
  maxConsecutiveTimeouts: number;
  /** Cap on lines in flight when the firmware shows ADVANCED_OK. */
  maxInFlight: number;
  /** Bytes allowed to wait in the firmware RX buffer beyond its command buffer (ADVANCED_OK only). */
  rxBudgetBytes: number;
  /** Stream lines from the server (default) or copy to the printer's SD card and print from there. */
  printFrom: 'stream' | 'sd';
  pauseGcode: string[];
  resumeGcode: string[];
  cancelGcode: string[];
}

/** Lift the nozzle on pause and go back down on resume; relative moves so no position is needed. */
export const DEFAULT_PAUSE_GCODE = ['M400', 'G91', 'G1 Z5 F600', 'G90'];
export const DEFAULT_RESUME_GCODE = ['G91', 'G1 Z-5 F600', 'G90'];
export const DEFAULT_CANCEL_GCODE = ['M400', 'M104 S0', 'M140 S0', 'M107', 'G91', 'G1 Z10 F600', 'G90', 'M84'];

function gcodeList(value: unknown, field: string, fallback: string[]): string[] {
  if (value === undefined || value === null) return fallback;
  const list = typeof value === 'string' ? value.split('\n') : value;
  if (!Array.isArray(list) || list.some((l) => typeof l !== 'string')) {
    throw new ValidationError(field, 'must be a list of G-code lines or a multi-line string');
  }
  return list.map((l) => l.trim()).filter(Boolean);
}

function positiveInt(value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ValidationError(field, 'must be a positive integer');
  }
  return value;
}

/** `{path, baudRate?: 115200}` or `{url: 'tcp://host:port'}` plus optional tuning. */
export function parseMarlinConnection(input: unknown): MarlinConnection {
  if (!input || typeof input !== 'object') throw new ValidationError('connection', 'must be an object');
  const c = input as Record<string, unknown>;
  let target: SerialTarget;
  if (c.url !== undefined) {
    if (typeof c.url !== 'string') throw new ValidationError('connection.url', 'must be a string');
    const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(c.url);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) throw new ValidationError('connection.url', 'must look like tcp://host:port');
    target = { kind: 'tcp', host: m[1].replace(/^\[|\]$/g, ''), port };
  } else if (c.path !== undefined) {
    if (typeof c.path !== 'string' || !c.path.trim()) throw new ValidationError('connection.path', 'must be a device path');
    target = { kind: 'serial', path: c.path, baudRate: positiveInt(c.baudRate, 'connection.baudRate', 115200) };
  } else {
    throw new ValidationError('connection.path', 'give a serial device path or connection.url tcp://host:port');
  }
  if (c.printFrom !== undefined && c.printFrom !== 'stream' && c.printFrom !== 'sd') {
    throw new ValidationError('connection.printFrom', "must be 'stream' or 'sd'");
  }
  return {
    target,
    okTimeoutMs: positiveInt(c.okTimeoutMs, 'connection.okTimeoutMs', 30_000),
    maxConsecutiveTimeouts: positiveInt(c.maxConsecutiveTimeouts, 'connection.maxConsecutiveTimeouts', 5),
    maxInFlight: positiveInt(c.maxInFlight, 'connection.maxInFlight', 16),
    rxBudgetBytes:
      c.rxBudgetBytes === 0 ? 0 : positiveInt(c.rxBudgetBytes, 'connection.rxBudgetBytes', 96),
    printFrom: (c.printFrom as 'stream' | 'sd' | undefined) ?? 'stream',
    pauseGcode: gcodeList(c.pauseGcode, 'connection.pauseGcode', DEFAULT_PAUSE_GCODE),
    resumeGcode: gcodeList(c.resumeGcode, 'connection.resumeGcode', DEFAULT_RESUME_GCODE),
    cancelGcode: gcodeList(c.cancelGcode, 'connection.cancelGcode', DEFAULT_CANCEL_GCODE),
  };
}

/** The JSON form kept in the database (what validateConnection returns). */
export function connectionToRecord(input: Record<string, unknown>): Record<string, unknown> {
  const parsed = parseMarlinConnection(input);
  const out: Record<string, unknown> = { ...input };
  if (parsed.target.kind === 'serial') out.baudRate = parsed.target.baudRate;
  return out;
}
