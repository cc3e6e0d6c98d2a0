import fs from 'node:fs';
import path from 'node:path';

/**
 * Configuration: built-in defaults < optional JSON config file (RWC_CONFIG or <dataDir>/config.json)
 * < environment. Validated once at start; a bad value throws ConfigError with one clear line.
 */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** null = decide at start: on for a fresh data dir. */
  demo: boolean | null;
  mqttPort: number;
  /** An external MQTT broker for agent traffic (mqtt:// or mqtts://, credentials in the URL); null = the embedded one. */
  mqttUrl: string | null;
  /** The external broker is a Mosquitto with dynamic security; the server keeps agent accounts there. */
  mqttDynsec: boolean;
  /** A command for an edge agent that cannot be delivered within this fails with command_expired. */
  agentCommandTtlSeconds: number;
  databaseUrl: string | null;
  logLevel: string;
  /** Largest accepted upload, bytes. */
  maxUploadBytes: number;
  /** Largest uncompressed size of one zip entry, bytes. */
  maxZipEntryBytes: number;
  /** Largest compression ratio of one zip entry. */
  maxZipRatio: number;
  /** Free disk space uploads never use, bytes: the database and logs keep room (507 past it). */
  uploadReserveBytes: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Report silence after which a printer is stale/unknown. */
  staleAfterSeconds: number;
  /** A printer offline/connecting this long raises one `printer_unreachable` alert per outage. */
  unreachableAlertSeconds: number;
  /** Failed logins from one address+user before 429, per window. */
  loginMaxFailures: number;
  loginWindowSeconds: number;
  /** The whole request header section must arrive within this (slow-loris). */
  headersTimeoutSeconds: number;
  /** The whole request, body included, must arrive within this (the ceiling for big uploads). */
  requestTimeoutSeconds: number;
  /** A non-upload body (JSON) must arrive within this. */
  bodyTimeoutSeconds: number;
  /** MQTT over TLS for edge agents on this port; null = off. */
  mqttTlsPort: number | null;
  /** PEM files for the MQTT TLS listener; unset = a self-signed pair made in the data dir. */
  mqttTlsCert: string | null;
  mqttTlsKey: string | null;
  /** Robot runtime (robot/): its storage root; null = <dataDir>/robot (seed 003 `worker.storage_dir`). */
  robotStorageDir: string | null;
  /** Largest robot project ZIP, bytes; the Socket.IO message limit follows it (seed 003 `max_message_size`). */
  robotMaxProjectBytes: number;
  /** Largest unpacked robot project, bytes, and most files in it. */
  robotMaxUnpackedBytes: number;
  robotMaxProjectFiles: number;
  /** Longest one `process` call may run, seconds (seed 003 `worker.max_execution_time`). */
  robotMaxExecutionSeconds: number;
  /** Time box of a project's stop() before its worker is terminated, seconds. */
  robotStopTimeoutSeconds: number;
  /** Controller silence after a motion call before stop() runs, milliseconds. */
  robotDeadmanMs: number;
  /** Python used for Python robot projects (and to create their venvs). */
  robotPython: string;
  /** Extra pip arguments for an admin-approved requirements install (e.g. "--no-index --find-links /wheels"). */
  robotPipArgs: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const defaults: Config = {
  port: 8080,
  host: '0.0.0.0',
  dataDir: './data',
  demo: null,
  mqttPort: 1884,
  mqttUrl: null,
  mqttDynsec: false,
  agentCommandTtlSeconds: 60,
  databaseUrl: null,
  logLevel: 'info',
  maxUploadBytes: 2 * 1024 ** 3,
  maxZipEntryBytes: 1024 ** 3,
  maxZipRatio: 1000,
  uploadReserveBytes: 512 * 1024 ** 2,
  accessTokenTtlSeconds: 900,
  refreshTokenTtlSeconds: 30 * 24 * 3600,
  staleAfterSeconds: 60,
  unreachableAlertSeconds: 30,
  loginMaxFailures: 5,
  loginWindowSeconds: 300,
  headersTimeoutSeconds: 20,
  requestTimeoutSeconds: 3600,
  bodyTimeoutSeconds: 30,
  mqttTlsPort: null,
  mqttTlsCert: null,
  mqttTlsKey: null,
  robotStorageDir: null,
  robotMaxProjectBytes: 100 * 1024 ** 2,
  robotMaxUnpackedBytes: 512 * 1024 ** 2,
  robotMaxProjectFiles: 2000,
  robotMaxExecutionSeconds: 300,
  robotStopTimeoutSeconds: 3,
  robotDeadmanMs: 500,
  robotPython: 'python3',
  robotPipArgs: '',
};

const envNames: Partial<Record<keyof Config, string>> = {
  port: 'RWC_PORT',
  host: 'RWC_HOST',
  dataDir: 'RWC_DATA_DIR',
  demo: 'RWC_DEMO',
  mqttPort: 'RWC_MQTT_PORT',
  mqttUrl: 'RWC_MQTT_URL',
  mqttDynsec: 'RWC_MQTT_DYNSEC',
  agentCommandTtlSeconds: 'RWC_AGENT_COMMAND_TTL',
  databaseUrl: 'RWC_DATABASE_URL',
  logLevel: 'RWC_LOG_LEVEL',
  maxUploadBytes: 'RWC_MAX_UPLOAD_BYTES',
  maxZipEntryBytes: 'RWC_MAX_ZIP_ENTRY_BYTES',
  maxZipRatio: 'RWC_MAX_ZIP_RATIO',
  uploadReserveBytes: 'RWC_UPLOAD_RESERVE_BYTES',
  accessTokenTtlSeconds: 'RWC_ACCESS_TOKEN_TTL',
  refreshTokenTtlSeconds: 'RWC_REFRESH_TOKEN_TTL',
  staleAfterSeconds: 'RWC_STALE_AFTER',
  unreachableAlertSeconds: 'RWC_UNREACHABLE_ALERT_AFTER',
  loginMaxFailures: 'RWC_LOGIN_MAX_FAILURES',
  loginWindowSeconds: 'RWC_LOGIN_WINDOW',
  headersTimeoutSeconds: 'RWC_HEADERS_TIMEOUT',
  requestTimeoutSeconds: 'RWC_REQUEST_TIMEOUT',
  bodyTimeoutSeconds: 'RWC_BODY_TIMEOUT',
  mqttTlsPort: 'RWC_MQTT_TLS_PORT',
  mqttTlsCert: 'RWC_MQTT_TLS_CERT',
  mqttTlsKey: 'RWC_MQTT_TLS_KEY',
  robotStorageDir: 'RWC_ROBOT_STORAGE_DIR',
  robotMaxProjectBytes: 'RWC_ROBOT_MAX_PROJECT_BYTES',
  robotMaxUnpackedBytes: 'RWC_ROBOT_MAX_UNPACKED_BYTES',
  robotMaxProjectFiles: 'RWC_ROBOT_MAX_PROJECT_FILES',
  robotMaxExecutionSeconds: 'RWC_ROBOT_MAX_EXECUTION_TIME',
  robotStopTimeoutSeconds: 'RWC_ROBOT_STOP_TIMEOUT',
  robotDeadmanMs: 'RWC_ROBOT_DEADMAN_MS',
  robotPython: 'RWC_ROBOT_PYTHON',
  robotPipArgs: 'RWC_ROBOT_PIP_ARGS',
};

function parseInteger(name: string, raw: unknown, min: number, max: number): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function parseBool(name: string, raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (raw === 1 || raw === '1' || raw === 'true' || raw === 'yes') return true;
  if (raw === 0 || raw === '0' || raw === 'false' || raw === 'no') return false;
  throw new ConfigError(`${name} must be 1 or 0, got ${JSON.stringify(raw)}`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const raw: Record<string, unknown> = {};
  const dataDirGuess = env.RWC_DATA_DIR ?? defaults.dataDir;
  const file = env.RWC_CONFIG ?? path.join(path.resolve(cwd, dataDirGuess), 'config.json');
  if (fs.existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      if (!(k in defaults)) throw new ConfigError(`config file ${file}: unknown setting "${k}"`);
      raw[k] = v;
    }
  } else if (env.RWC_CONFIG) {
    throw new ConfigError(`RWC_CONFIG points to ${file}, which does not exist`);
  }
  for (const [key, name] of Object.entries(envNames)) {
    const v = env[name!];
    if (v !== undefined && v !== '') raw[key] = v;
  }
  const label = (k: keyof Config) => envNames[k] ?? k;
  const get = <K extends keyof Config>(k: K) => (k in raw ? raw[k] : defaults[k]);

  const host = String(get('host'));
  if (!/^[\w.:-]+$/.test(host)) throw new ConfigError(`${label('host')} must be an IP address or host name, got "${host}"`);
  const databaseUrl = get('databaseUrl') as string | null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(`${label('databaseUrl')} must start with postgres://, got "${databaseUrl}"`);
  }
  const mqttUrl = (get('mqttUrl') as string | null) || null;
  if (mqttUrl && !/^mqtts?:\/\/[^/\s]+/.test(mqttUrl)) {
    throw new ConfigError(`${label('mqttUrl')} must look like mqtt://host:1883 or mqtts://host:8883, got "${mqttUrl.replace(/:[^:@/]*@/, ':***@')}"`);
  }
  const mqttDynsec = parseBool(label('mqttDynsec'), get('mqttDynsec'));
  if (mqttDynsec && !mqttUrl) {
    throw new ConfigError(`${label('mqttDynsec')} needs ${label('mqttUrl')}: dynamic security is a feature of an external Mosquitto`);
  }
  const logLevel = String(get('logLevel'));
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`${label('logLevel')} must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  const demoRaw = get('demo');
  const tlsPortRaw = get('mqttTlsPort');
  const tlsFile = (k: 'mqttTlsCert' | 'mqttTlsKey'): string | null => {
    const v = get(k);
    if (v === null || v === undefined || v === '') return null;
    const file = path.resolve(cwd, String(v));
    if (!fs.existsSync(file)) throw new ConfigError(`${label(k)} points to ${file}, which does not exist`);
    return file;
  };
  const mqttTlsCert = tlsFile('mqttTlsCert');
  const mqttTlsKey = tlsFile('mqttTlsKey');
  if (!!mqttTlsCert !== !!mqttTlsKey) {
    throw new ConfigError(`${label('mqttTlsCert')} and ${label('mqttTlsKey')} go together: set both or neither`);
  }
  const robotStorageDir = get('robotStorageDir') as string | null;
  const robotPython = String(get('robotPython'));
  if (!robotPython.trim()) throw new ConfigError(`${label('robotPython')} must name a Python executable`);
  return {
    port: parseInteger(label('port'), get('port'), 0, 65535),
    host,
    dataDir: path.resolve(cwd, String(get('dataDir'))),
    demo: demoRaw === null ? null : parseBool(label('demo'), demoRaw),
    mqttPort: parseInteger(label('mqttPort'), get('mqttPort'), 0, 65535),
    mqttUrl,
    mqttDynsec,
    agentCommandTtlSeconds: parseInteger(label('agentCommandTtlSeconds'), get('agentCommandTtlSeconds'), 5, 7 * 86400),
    databaseUrl: databaseUrl || null,
    logLevel,
    maxUploadBytes: parseInteger(label('maxUploadBytes'), get('maxUploadBytes'), 1024, 2 ** 50),
    maxZipEntryBytes: parseInteger(label('maxZipEntryBytes'), get('maxZipEntryBytes'), 1024, 2 ** 50),
    maxZipRatio: parseInteger(label('maxZipRatio'), get('maxZipRatio'), 2, 1_000_000),
    uploadReserveBytes: parseInteger(label('uploadReserveBytes'), get('uploadReserveBytes'), 0, 2 ** 50),
    accessTokenTtlSeconds: parseInteger(label('accessTokenTtlSeconds'), get('accessTokenTtlSeconds'), 5, 86400),
    refreshTokenTtlSeconds: parseInteger(label('refreshTokenTtlSeconds'), get('refreshTokenTtlSeconds'), 60, 3650 * 86400),
    staleAfterSeconds: parseInteger(label('staleAfterSeconds'), get('staleAfterSeconds'), 5, 3600),
    unreachableAlertSeconds: parseInteger(label('unreachableAlertSeconds'), get('unreachableAlertSeconds'), 1, 86400),
    loginMaxFailures: parseInteger(label('loginMaxFailures'), get('loginMaxFailures'), 1, 1000),
    loginWindowSeconds: parseInteger(label('loginWindowSeconds'), get('loginWindowSeconds'), 1, 86400),
    headersTimeoutSeconds: parseInteger(label('headersTimeoutSeconds'), get('headersTimeoutSeconds'), 1, 3600),
    requestTimeoutSeconds: parseInteger(label('requestTimeoutSeconds'), get('requestTimeoutSeconds'), 1, 7 * 86400),
    bodyTimeoutSeconds: parseInteger(label('bodyTimeoutSeconds'), get('bodyTimeoutSeconds'), 1, 3600),
    mqttTlsPort:
      tlsPortRaw === null || tlsPortRaw === undefined || tlsPortRaw === ''
        ? null
        : parseInteger(label('mqttTlsPort'), tlsPortRaw, 0, 65535),
    mqttTlsCert,
    mqttTlsKey,
    robotStorageDir: robotStorageDir ? path.resolve(cwd, String(robotStorageDir)) : null,
    robotMaxProjectBytes: parseInteger(label('robotMaxProjectBytes'), get('robotMaxProjectBytes'), 1024, 2 ** 31),
    robotMaxUnpackedBytes: parseInteger(label('robotMaxUnpackedBytes'), get('robotMaxUnpackedBytes'), 1024, 2 ** 40),
    robotMaxProjectFiles: parseInteger(label('robotMaxProjectFiles'), get('robotMaxProjectFiles'), 1, 1_000_000),
    robotMaxExecutionSeconds: parseInteger(label('robotMaxExecutionSeconds'), get('robotMaxExecutionSeconds'), 1, 86400),
    robotStopTimeoutSeconds: parseInteger(label('robotStopTimeoutSeconds'), get('robotStopTimeoutSeconds'), 1, 600),
    robotDeadmanMs: parseInteger(label('robotDeadmanMs'), get('robotDeadmanMs'), 50, 600_000),
    robotPython,
    robotPipArgs: String(get('robotPipArgs')),
  };
}
