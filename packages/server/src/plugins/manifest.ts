/**
 * `plugin.toml`: what a plugin is, read without running its code (VS Code `contributes`, Home
 * Assistant manifest). The `[plugin]` keys are fixed by docs/api.md (Plugins); `[limits]`,
 * `[config]` and `[dependencies.<id>]` are ours (docs/decisions.md, Plugins). A bad manifest is
 * refused with a message naming the field; an incompatible `api` range before anything runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HOST_API_VERSION } from '@rwc/plugin-sdk/protocol';
import semver from 'semver';
import { parse as parseToml } from 'smol-toml';
import { DomainError } from '../errors.ts';
import { compileSchema } from './json-schema.ts';

/** Capability contracts a plugin may provide or require, with the versions this host implements. */
export const knownCapabilities: Record<string, number[]> = {
  'printer-driver': [1],
  detector: [1],
  'snapshot-source': [1],
  notifier: [1],
  'queue-policy': [1],
  'robot-executor': [1],
};

export interface CapabilityRef {
  kind: string;
  version: number;
}

export interface RequiredCapability extends CapabilityRef {
  /** Marked with a trailing `?`: the plugin starts without it. */
  optional: boolean;
}

/** Seed 004's version policy for a dependency on another plugin; each value is a semver range. */
export interface PluginDependency {
  id: string;
  recommended?: string;
  supported?: string;
  untested?: string;
  conflicts?: string;
  /** Start without it when it is not installed. */
  optional: boolean;
}

export interface PluginLimits {
  /** Resident memory above which the process is killed (MiB). */
  memoryMb: number;
  callTimeoutSeconds: number;
  startupTimeoutSeconds: number;
  shutdownTimeoutSeconds: number;
  /** No answer to a ping for this long and the plugin counts as hung. */
  heartbeatTimeoutSeconds: number;
  /** Crash-loop guard: the `crashLimit`-th crash within `crashWindowSeconds` disables the plugin. */
  crashLimit: number;
  crashWindowSeconds: number;
  backoffMinSeconds: number;
  backoffMaxSeconds: number;
}

export interface PluginManifest {
  id: string;
  name: string;
  version: string;
  /** Host plugin-API semver range. */
  api: string;
  runtime: 'node' | 'python';
  /** Path relative to the plugin folder. */
  entry: string;
  description: string;
  provides: CapabilityRef[];
  requires: RequiredCapability[];
  /** Whether a newly discovered copy starts enabled (built-in notifiers wait for their settings). */
  defaultEnabled: boolean;
  limits: PluginLimits;
  config: { schema: Record<string, unknown>; secretFields: string[] };
  dependencies: PluginDependency[];
}

export const defaultLimits: PluginLimits = {
  memoryMb: 256,
  callTimeoutSeconds: 30,
  startupTimeoutSeconds: 15,
  shutdownTimeoutSeconds: 5,
  heartbeatTimeoutSeconds: 10,
  crashLimit: 3,
  crashWindowSeconds: 300,
  backoffMinSeconds: 1,
  backoffMaxSeconds: 60,
};

/** A manifest problem: 400 `invalid_manifest` naming the field, e.g. `[plugin].version`. */
export class ManifestError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
    code = 'invalid_manifest',
  ) {
    super('invalid', code, `plugin.toml ${field}: ${message}`, { field });
    this.name = 'ManifestError';
  }
}

const ID = /^[a-z][a-z0-9-]{0,62}$/;

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}

function str(t: Table, key: string, field: string, opts: { required?: boolean; max?: number } = {}): string | undefined {
  const v = t[key];
  if (v === undefined) {
    if (opts.required) throw new ManifestError(field, 'is required');
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '') throw new ManifestError(field, 'must be a non-empty string');
  if (v.length > (opts.max ?? 500)) throw new ManifestError(field, `must be at most ${opts.max ?? 500} characters`);
  return v;
}

function num(t: Table, key: string, field: string, min: number, max: number, fallback: number): number {
  const v = t[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ManifestError(field, `must be a number from ${min} to ${max}`);
  }
  return v;
}

function range(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || semver.validRange(v) === null) throw new ManifestError(field, `must be a semver range like "^1.0", got ${JSON.stringify(v)}`);
  return v;
}

function capability(v: unknown, field: string, allowOptional: boolean): RequiredCapability {
  const m = typeof v === 'string' ? /^([a-z][a-z-]*)@(\d+)(\?)?$/.exec(v) : null;
  if (!m || (m[3] && !allowOptional)) {
    throw new ManifestError(field, `must name a capability like "notifier@1"${allowOptional ? ' (a trailing ? marks it optional)' : ''}, got ${JSON.stringify(v)}`);
  }
  const versions = knownCapabilities[m[1]!];
  if (!versions) throw new ManifestError(field, `unknown capability "${m[1]}"; one of ${Object.keys(knownCapabilities).join(', ')}`);
  if (!versions.includes(Number(m[2]))) throw new ManifestError(field, `this server implements ${m[1]}@${versions.join(', @')}, not @${m[2]}`);
  return { kind: m[1]!, version: Number(m[2]), optional: !!m[3] };
}

function capabilityList(t: Table, key: string, allowOptional: boolean): RequiredCapability[] {
  const v = t[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ManifestError(`[plugin].${key}`, 'must be an array of capability names');
  return v.map((c, i) => capability(c, `[plugin].${key}[${i}]`, allowOptional));
}

function configSection(raw: unknown, dir: string): PluginManifest['config'] {
  if (raw === undefined) return { schema: { type: 'object', properties: {} }, secretFields: [] };
  if (!isTable(raw)) throw new ManifestError('[config]', 'must be a table');
  let schema: unknown = raw.schema;
  if (typeof schema === 'string') {
    const file = path.resolve(dir, schema);
    if (!file.startsWith(path.resolve(dir) + path.sep)) throw new ManifestError('[config].schema', 'must be a file inside the plugin folder');
    try {
      schema = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ManifestError('[config].schema', `cannot read ${schema}: ${(err as Error).message}`);
    }
  }
  if (schema === undefined) schema = { type: 'object', properties: {} };
  if (!isTable(schema)) throw new ManifestError('[config].schema', 'must be a JSON Schema object (inline table or a .json file name)');
  if (schema.type !== 'object') throw new ManifestError('[config].schema.type', 'must be "object"');
  try {
    compileSchema(schema);
  } catch (err) {
    throw new ManifestError('[config].schema', `is not a valid JSON Schema: ${(err as Error).message}`);
  }
  const props = isTable(schema.properties) ? schema.properties : {};
  const secretFields = Object.entries(props)
    .filter(([, p]) => isTable(p) && (p.writeOnly === true || p.secret === true))
    .map(([k]) => k);
  return { schema, secretFields };
}

function dependencies(raw: unknown): PluginDependency[] {
  if (raw === undefined) return [];
  if (!isTable(raw)) throw new ManifestError('[dependencies]', 'must be a table of plugin ids');
  return Object.entries(raw).map(([id, d]) => {
    const field = `[dependencies.${id}]`;
    if (!ID.test(id)) throw new ManifestError(field, 'must be a plugin id ([a-z][a-z0-9-]*)');
    if (typeof d === 'string') return { id, supported: range(d, field), optional: false };
    if (!isTable(d)) throw new ManifestError(field, 'must be a version range or a table');
    for (const k of Object.keys(d)) {
      if (!['recommended', 'supported', 'untested', 'conflicts', 'optional'].includes(k)) throw new ManifestError(`${field}.${k}`, 'is not a known key');
    }
    if (d.optional !== undefined && typeof d.optional !== 'boolean') throw new ManifestError(`${field}.optional`, 'must be true or false');
    return {
      id,
      recommended: range(d.recommended, `${field}.recommended`),
      supported: range(d.supported, `${field}.supported`),
      untested: range(d.untested, `${field}.untested`),
      conflicts: range(d.conflicts, `${field}.conflicts`),
      optional: d.optional === true,
    };
  });
}

function limits(raw: unknown): PluginLimits {
  if (raw === undefined) return { ...defaultLimits };
  if (!isTable(raw)) throw new ManifestError('[limits]', 'must be a table');
  const d = defaultLimits;
  const l: PluginLimits = {
    memoryMb: num(raw, 'memory_mb', '[limits].memory_mb', 32, 65536, d.memoryMb),
    callTimeoutSeconds: num(raw, 'call_timeout', '[limits].call_timeout', 0.05, 86400, d.callTimeoutSeconds),
    startupTimeoutSeconds: num(raw, 'startup_timeout', '[limits].startup_timeout', 0.1, 600, d.startupTimeoutSeconds),
    shutdownTimeoutSeconds: num(raw, 'shutdown_timeout', '[limits].shutdown_timeout', 0.1, 600, d.shutdownTimeoutSeconds),
    heartbeatTimeoutSeconds: num(raw, 'heartbeat_timeout', '[limits].heartbeat_timeout', 0.2, 600, d.heartbeatTimeoutSeconds),
    crashLimit: num(raw, 'crash_limit', '[limits].crash_limit', 1, 1000, d.crashLimit),
    crashWindowSeconds: num(raw, 'crash_window', '[limits].crash_window', 1, 86400, d.crashWindowSeconds),
    backoffMinSeconds: num(raw, 'backoff_min', '[limits].backoff_min', 0.01, 3600, d.backoffMinSeconds),
    backoffMaxSeconds: num(raw, 'backoff_max', '[limits].backoff_max', 0.01, 86400, d.backoffMaxSeconds),
  };
  if (l.backoffMaxSeconds < l.backoffMinSeconds) throw new ManifestError('[limits].backoff_max', 'must not be below backoff_min');
  return l;
}

/** Parses and checks a manifest's text; `dir` is the plugin folder (for the entry and schema files). */
export function parseManifest(text: string, dir: string): PluginManifest {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    throw new ManifestError('(syntax)', `is not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  for (const k of Object.keys(doc)) {
    if (!['plugin', 'limits', 'config', 'dependencies'].includes(k)) throw new ManifestError(`[${k}]`, 'is not a known table (plugin, limits, config, dependencies)');
  }
  const p = doc.plugin;
  if (!isTable(p)) throw new ManifestError('[plugin]', 'is required');
  const id = str(p, 'id', '[plugin].id', { required: true, max: 63 })!;
  if (!ID.test(id)) throw new ManifestError('[plugin].id', 'must start with a letter and hold only a-z, 0-9 and -');
  const version = str(p, 'version', '[plugin].version', { required: true, max: 64 })!;
  if (!semver.valid(version)) throw new ManifestError('[plugin].version', `must be a semver version like 1.2.3, got "${version}"`);
  const api = range(p.api, '[plugin].api');
  if (!api) throw new ManifestError('[plugin].api', 'is required (the host API range, e.g. "^1.0")');
  const runtime = str(p, 'runtime', '[plugin].runtime', { required: true })!;
  if (runtime !== 'node' && runtime !== 'python') throw new ManifestError('[plugin].runtime', `must be "node" or "python", got "${runtime}"`);
  const entry = str(p, 'entry', '[plugin].entry', { required: true })!;
  const entryPath = path.resolve(dir, entry);
  if (!entryPath.startsWith(path.resolve(dir) + path.sep)) throw new ManifestError('[plugin].entry', 'must be a file inside the plugin folder');
  if (!fs.existsSync(entryPath)) throw new ManifestError('[plugin].entry', `${entry} does not exist in the plugin folder`);
  if (p.default_enabled !== undefined && typeof p.default_enabled !== 'boolean') throw new ManifestError('[plugin].default_enabled', 'must be true or false');
  const known = ['id', 'name', 'version', 'api', 'runtime', 'entry', 'provides', 'requires', 'description', 'default_enabled'];
  for (const k of Object.keys(p)) if (!known.includes(k)) throw new ManifestError(`[plugin].${k}`, 'is not a known key');
  const manifest: PluginManifest = {
    id,
    name: str(p, 'name', '[plugin].name', { required: true, max: 120 })!,
    version,
    api,
    runtime,
    entry,
    description: str(p, 'description', '[plugin].description', { max: 2000 }) ?? '',
    provides: capabilityList(p, 'provides', false).map(({ kind, version: v }) => ({ kind, version: v })),
    requires: capabilityList(p, 'requires', true),
    defaultEnabled: p.default_enabled !== false,
    limits: limits(doc.limits),
    config: configSection(doc.config, dir),
    dependencies: dependencies(doc.dependencies),
  };
  checkApi(manifest);
  return manifest;
}

/** Refuses a plugin written for another host API before it runs (409-style `incompatible_api`, sent as 400). */
export function checkApi(m: Pick<PluginManifest, 'api' | 'id'>, hostApi = HOST_API_VERSION): void {
  if (!semver.satisfies(hostApi, m.api)) {
    throw new ManifestError('[plugin].api', `"${m.api}" does not include this server's plugin API ${hostApi}`, 'incompatible_api');
  }
}

/** Reads `<dir>/plugin.toml`. */
export function readManifest(dir: string): PluginManifest {
  const file = path.join(dir, 'plugin.toml');
  if (!fs.existsSync(file)) throw new ManifestError('(file)', `no plugin.toml in ${path.basename(dir)}`);
  return parseManifest(fs.readFileSync(file, 'utf8'), dir);
}
