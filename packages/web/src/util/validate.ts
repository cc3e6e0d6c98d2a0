/** Pure checks behind the "add printer" form (also unit-tested). Each returns true when the value is acceptable. */

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^\[?[0-9A-Fa-f:]+(%\w+)?\]?$/;

export function isHost(value: string): boolean {
  const v = value.trim();
  if (!v) return false;
  if (/^\d+(\.\d+){3}$/.test(v)) return IPV4.test(v);
  return IPV4.test(v) || HOSTNAME.test(v) || (v.includes(':') && IPV6.test(v));
}

/** Bambu serials are 15 characters of capitals and digits (e.g. 01S00A123456789); accept 8+ to be lenient. */
export function isBambuSerial(value: string): boolean {
  return /^[A-Za-z0-9]{8,32}$/.test(value.trim());
}

/** The LAN access code shown on the printer's screen: 8 characters. */
export function isAccessCode(value: string): boolean {
  return /^[A-Za-z0-9]{8}$/.test(value.trim());
}

export function isSerialPath(value: string): boolean {
  return /^(\/dev\/\S+|COM\d+|\\\\\.\\COM\d+)$/.test(value.trim());
}

export function isTcpUrl(value: string): boolean {
  const m = /^tcp:\/\/([^\s/:]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})\/?$/.exec(value.trim());
  return m !== null && Number(m[2]) > 0 && Number(m[2]) < 65536;
}

export function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value.trim());
    return ['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== '';
  } catch {
    return false;
  }
}

export function isPort(value: number | null | undefined): boolean {
  return value === null || value === undefined || (Number.isInteger(value) && value > 0 && value < 65536);
}

export type DriverKind = 'bambu' | 'marlin' | 'moonraker' | 'simulated-bambu' | 'simulated-marlin' | 'simulated-moonraker';
export const DRIVERS: DriverKind[] = ['bambu', 'marlin', 'moonraker', 'simulated-bambu', 'simulated-marlin', 'simulated-moonraker'];

export interface PrinterFormValue {
  name: string;
  driver: DriverKind;
  model: string;
  host: string;
  serial: string;
  accessCode: string;
  /** Skip the certificate check (odd firmware with a self-signed certificate). */
  insecureTls: boolean;
  mqttPort: number | null;
  ftpsPort: number | null;
  marlinMode: 'serial' | 'tcp';
  path: string;
  baudRate: number;
  tcpUrl: string;
  url: string;
  apiKey: string;
  /** Nozzle diameter in mm, or null when unknown (then the printer's report is used). */
  nozzleDiameter?: number | null;
}

/** The form values of a stored printer (secrets stay empty: the API never returns them). */
export function printerFormFrom(p: { name: string; driver: string; model: string | null; connection?: Record<string, unknown>; settings?: { nozzleDiameter?: number | null } }): PrinterFormValue {
  const c = p.connection ?? {};
  const str = (k: string) => (typeof c[k] === 'string' ? (c[k] as string) : '');
  const num = (k: string) => (typeof c[k] === 'number' ? (c[k] as number) : null);
  const url = str('url');
  return {
    name: p.name,
    driver: p.driver as DriverKind,
    model: p.model ?? '',
    host: str('host'),
    serial: str('serial'),
    accessCode: '',
    insecureTls: c.insecureTls === true,
    mqttPort: num('mqttPort'),
    ftpsPort: num('ftpsPort'),
    marlinMode: url.startsWith('tcp://') ? 'tcp' : 'serial',
    path: str('path'),
    baudRate: num('baudRate') ?? 115200,
    tcpUrl: url.startsWith('tcp://') ? url : '',
    url: url.startsWith('tcp://') ? '' : url,
    apiKey: '',
    nozzleDiameter: p.settings?.nozzleDiameter ?? null,
  };
}

/** Builds the POST /api/v1/printers body from the form (only the fields of the chosen driver). */
export function printerRequestBody(v: PrinterFormValue): { name: string; driver: DriverKind; model?: string; connection: Record<string, unknown> } {
  const connection: Record<string, unknown> = {};
  if (v.driver === 'bambu') {
    connection.host = v.host.trim();
    connection.serial = v.serial.trim();
    // Left empty when editing: the server keeps the stored code (unless the address changes).
    if (v.accessCode.trim()) connection.accessCode = v.accessCode.trim();
    if (v.insecureTls) connection.insecureTls = true;
    if (v.mqttPort) connection.mqttPort = v.mqttPort;
    if (v.ftpsPort) connection.ftpsPort = v.ftpsPort;
  } else if (v.driver === 'marlin') {
    if (v.marlinMode === 'tcp') connection.url = v.tcpUrl.trim();
    else {
      connection.path = v.path.trim();
      connection.baudRate = v.baudRate;
    }
  } else if (v.driver === 'moonraker') {
    connection.url = v.url.trim();
    if (v.apiKey.trim()) connection.apiKey = v.apiKey.trim();
  }
  return { name: v.name.trim(), driver: v.driver, ...(v.model.trim() ? { model: v.model.trim() } : {}), connection };
}
