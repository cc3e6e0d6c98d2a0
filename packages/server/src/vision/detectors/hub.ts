/**
 * The detectors this server knows: the built-in stand-in, the ones an admin configured
 * (`vision_detectors`: ONNX model files, seed-service and Obico endpoints), and any a plugin
 * registered. Configured ones are registered in the capability registry under kind `detector`
 * exactly as a plugin's are, so the monitor only ever looks detectors up by name.
 */
import type { CapabilityRegistry, DetectorCapability } from '../../registry/capabilities.ts';
import { ValidationError, conflict, notFound } from '../../errors.ts';
import type { Db } from '../../storage/schema.ts';
import { SecretBox } from '../../storage/secrets.ts';
import type { Clock } from '../../util/clock.ts';
import type { TaskBroker } from '../tasks.ts';
import { obicoDetector } from './obico.ts';
import { type OnnxDetector, onnxDetector } from './onnx.ts';
import { seedServiceDetector } from './seed-service.ts';
import { standinDetector } from './standin.ts';

export const STANDIN = 'standin';
export type ConfiguredKind = 'onnx' | 'seed-service' | 'obico';
const KINDS: ConfiguredKind[] = ['onnx', 'seed-service', 'obico'];
const SECRET_FIELDS = ['token'];

export interface DetectorInfo {
  name: string;
  kind: ConfiguredKind | 'standin' | 'plugin';
  /** 'local' runs on this server; 'cloud' sends frames to another service (seed §2.1 local / cloud). */
  location: 'local' | 'cloud';
  provider: string;
  available: boolean;
  problem: string | null;
  /** The configuration without secrets (`tokenSet: true` instead). */
  config: Record<string, unknown>;
}

interface Configured {
  kind: ConfiguredKind;
  config: Record<string, unknown>;
  impl: DetectorCapability;
}

function str(v: unknown, field: string, required: boolean): string | undefined {
  if (v === undefined || v === null || v === '') {
    if (required) throw new ValidationError(field, 'is required');
    return undefined;
  }
  if (typeof v !== 'string' || v.length > 2000) throw new ValidationError(field, 'must be a string');
  return v;
}

function httpUrl(v: unknown, field: string): string {
  const s = str(v, field, true)!;
  try {
    const u = new URL(s);
    if (u.protocol === 'http:' || u.protocol === 'https:') return s.replace(/\/+$/, '');
  } catch {}
  throw new ValidationError(field, 'must be an http(s) URL');
}

/** Validates a detector's configuration for its kind; throws a ValidationError naming the field. */
export function validateDetectorConfig(kind: string, input: unknown): Record<string, unknown> {
  if (!KINDS.includes(kind as ConfiguredKind)) throw new ValidationError('kind', `must be one of ${KINDS.join(', ')}`);
  const c = (input && typeof input === 'object' && !Array.isArray(input) ? input : {}) as Record<string, unknown>;
  const timeout = c.timeoutSeconds;
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 1 && timeout <= 600))) {
    throw new ValidationError('config.timeoutSeconds', 'must be 1–600 seconds');
  }
  if (kind === 'onnx') {
    const labels = c.labels;
    if (labels !== undefined && (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))) {
      throw new ValidationError('config.labels', 'must be a list of class names');
    }
    if (c.format !== undefined && !['auto', 'yolov5', 'yolov8'].includes(c.format as string)) {
      throw new ValidationError('config.format', 'must be auto, yolov5 or yolov8');
    }
    for (const f of ['scoreThreshold', 'iouThreshold'] as const) {
      const v = c[f];
      if (v !== undefined && (typeof v !== 'number' || !(v > 0 && v < 1)))
        throw new ValidationError(`config.${f}`, 'must be between 0 and 1');
    }
    const size = c.inputSize;
    if (size !== undefined && (typeof size !== 'number' || !Number.isInteger(size) || size < 32 || size > 2048)) {
      throw new ValidationError('config.inputSize', 'must be a whole number of pixels from 32 to 2048');
    }
    return { ...c, modelPath: str(c.modelPath, 'config.modelPath', true) };
  }
  return { ...c, url: httpUrl(c.url, 'config.url'), token: str(c.token, 'config.token', false) ?? null };
}

export class DetectorHub {
  readonly #db: Db;
  readonly #registry: CapabilityRegistry;
  readonly #secrets: SecretBox;
  readonly #tasks: TaskBroker;
  readonly #configured = new Map<string, Configured>();

  constructor(opts: { db: Db; registry: CapabilityRegistry; secrets: SecretBox; tasks: TaskBroker; clock: Clock }) {
    this.#db = opts.db;
    this.#registry = opts.registry;
    this.#secrets = opts.secrets;
    this.#tasks = opts.tasks;
  }

  async start(): Promise<void> {
    if (!this.#registry.get('detector', STANDIN)) this.#registry.register('detector', STANDIN, standinDetector());
    const rows = await this.#db.selectFrom('vision_detectors').selectAll().orderBy('created_at').execute();
    for (const row of rows) {
      const config = JSON.parse(row.config_json) as Record<string, unknown>;
      for (const f of SECRET_FIELDS)
        if (SecretBox.isSealed(config[f])) config[f] = this.#secrets.decrypt(config[f] as string);
      this.#install(row.name, row.kind as ConfiguredKind, config);
    }
  }

  stop(): void {
    for (const name of this.#configured.keys()) this.#registry.unregister('detector', name);
    this.#configured.clear();
    this.#registry.unregister('detector', STANDIN);
  }

  #install(name: string, kind: ConfiguredKind, config: Record<string, unknown>): void {
    const impl =
      kind === 'onnx'
        ? onnxDetector(config as never)
        : kind === 'obico'
          ? obicoDetector(name, config as never, this.#tasks)
          : seedServiceDetector(name, config as never, this.#tasks);
    this.#registry.unregister('detector', name);
    this.#registry.register('detector', name, impl);
    this.#configured.set(name, { kind, config, impl });
  }

  get(name: string): DetectorCapability | undefined {
    return this.#registry.get('detector', name);
  }

  /** The local detector the server offers at POST /api/v1/predict: the first usable ONNX model, else the stand-in. */
  async localName(): Promise<string> {
    for (const [name, c] of this.#configured) {
      if (c.kind === 'onnx' && (await (c.impl as OnnxDetector).problem()) === null) return name;
    }
    return STANDIN;
  }

  /** The detector a printer uses when its settings name none: the local one. */
  defaultName(): Promise<string> {
    return this.localName();
  }

  async list(): Promise<DetectorInfo[]> {
    const out: DetectorInfo[] = [];
    for (const entry of this.#registry.list('detector')) {
      const c = this.#configured.get(entry.name);
      if (entry.name === STANDIN && !c) {
        out.push({
          name: STANDIN,
          kind: 'standin',
          location: 'local',
          provider: 'builtin',
          available: true,
          problem: null,
          config: {},
        });
      } else if (c) {
        const problem = c.kind === 'onnx' ? await (c.impl as OnnxDetector).problem() : null;
        const pub: Record<string, unknown> = { ...c.config };
        for (const f of SECRET_FIELDS)
          if (f in pub) {
            pub[`${f}Set`] = !!pub[f];
            delete pub[f];
          }
        out.push({
          name: entry.name,
          kind: c.kind,
          location: c.kind === 'onnx' ? 'local' : 'cloud',
          provider: 'builtin',
          available: problem === null,
          problem,
          config: pub,
        });
      } else {
        out.push({
          name: entry.name,
          kind: 'plugin',
          location: 'local',
          provider: entry.provider,
          available: true,
          problem: null,
          config: {},
        });
      }
    }
    return out;
  }

  async add(input: { name: string; kind: string; config: unknown }, now: string): Promise<DetectorInfo> {
    if (!/^[a-z0-9][a-z0-9_-]{0,40}$/.test(input.name))
      throw new ValidationError('name', 'must be 1–41 lower-case letters, digits, - or _');
    if (this.#registry.get('detector', input.name))
      throw conflict(`a detector named ${input.name} exists`, 'detector_exists');
    const config = validateDetectorConfig(input.kind, input.config);
    await this.#db
      .insertInto('vision_detectors')
      .values({ name: input.name, kind: input.kind, config_json: this.#seal(config), created_at: now })
      .execute();
    this.#install(input.name, input.kind as ConfiguredKind, config);
    return (await this.list()).find((d) => d.name === input.name)!;
  }

  async update(name: string, patch: unknown): Promise<DetectorInfo> {
    const c = this.#configured.get(name);
    if (!c) throw notFound('configured detector', 'detector_not_found');
    const p = (patch && typeof patch === 'object' ? patch : {}) as Record<string, unknown>;
    // A secret left out of the patch keeps its stored value (as printer connections do).
    const config = validateDetectorConfig(c.kind, { ...c.config, ...p });
    await this.#db
      .updateTable('vision_detectors')
      .set({ config_json: this.#seal(config) })
      .where('name', '=', name)
      .execute();
    this.#install(name, c.kind, config);
    return (await this.list()).find((d) => d.name === name)!;
  }

  async remove(name: string): Promise<void> {
    if (!this.#configured.has(name)) throw notFound('configured detector', 'detector_not_found');
    await this.#db.deleteFrom('vision_detectors').where('name', '=', name).execute();
    this.#configured.delete(name);
    this.#registry.unregister('detector', name);
  }

  #seal(config: Record<string, unknown>): string {
    const sealed = { ...config };
    for (const f of SECRET_FIELDS)
      if (typeof sealed[f] === 'string' && sealed[f]) sealed[f] = this.#secrets.encrypt(sealed[f] as string);
    return JSON.stringify(sealed);
  }
}
