/**
 * The `connection` object of a `bambu` printer (docs/api.md):
 * `{host, serial, accessCode, mqttPort?: 8883, ftpsPort?: 990, cameraPort?: 6000}` plus
 * `insecureTls?: boolean` (skip certificate checks for odd firmware) and `caCertPem?: string`
 * (an extra trusted CA, e.g. a newer per-model Bambu CA or a simulator's CA).
 */
import { ValidationError } from '../../errors.ts';

export interface BambuConnection {
  host: string;
  /** Case-sensitive: the report topic uses it verbatim (a mis-cased serial gets zero reports). */
  serial: string;
  accessCode: string;
  mqttPort: number;
  ftpsPort: number;
  cameraPort: number;
  insecureTls: boolean;
  caCertPem: string | null;
}

function requiredString(c: Record<string, unknown>, field: string): string {
  const v = c[field];
  if (v === undefined || v === null || v === '') throw new ValidationError(`connection.${field}`, 'required');
  if (typeof v !== 'string') throw new ValidationError(`connection.${field}`, 'must be a string');
  const t = v.trim();
  if (!t) throw new ValidationError(`connection.${field}`, 'required');
  return t;
}

function port(c: Record<string, unknown>, field: string, fallback: number): number {
  const v = c[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new ValidationError(`connection.${field}`, 'must be a port number (1-65535)');
  }
  return v;
}

export function parseBambuConnection(input: unknown): BambuConnection {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('connection', 'must be an object');
  }
  const c = input as Record<string, unknown>;
  const host = requiredString(c, 'host');
  const serial = requiredString(c, 'serial');
  if (!/^[A-Za-z0-9]+$/.test(serial)) throw new ValidationError('connection.serial', 'letters and digits only');
  const accessCode = requiredString(c, 'accessCode');
  if (c.insecureTls !== undefined && typeof c.insecureTls !== 'boolean') {
    throw new ValidationError('connection.insecureTls', 'must be a boolean');
  }
  let caCertPem: string | null = null;
  if (c.caCertPem !== undefined && c.caCertPem !== null && c.caCertPem !== '') {
    if (typeof c.caCertPem !== 'string' || !c.caCertPem.includes('BEGIN CERTIFICATE')) {
      throw new ValidationError('connection.caCertPem', 'must be a PEM certificate');
    }
    caCertPem = c.caCertPem;
  }
  return {
    host,
    serial,
    accessCode,
    mqttPort: port(c, 'mqttPort', 8883),
    ftpsPort: port(c, 'ftpsPort', 990),
    cameraPort: port(c, 'cameraPort', 6000),
    insecureTls: c.insecureTls === true,
    caCertPem,
  };
}
