/**
 * Runs: one record per entry call made over HTTP, by a timer or by another plugin (seed 004's
 * RunRecord: status, progress, stage, metrics, exports). Live runs sit in memory and are written
 * when they start and end; `plugin.run` events (throttled while progress moves) reach the
 * WebSocket. Capability calls (driver commands, detections, notifications) are not runs.
 */
import crypto from 'node:crypto';
import type { RunExport, RunUpdate } from '@rwc/plugin-sdk/protocol';
import type { EventBus } from '../events/bus.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { PluginRepo } from './plugin-repo.ts';

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface RunRecord {
  id: string;
  pluginId: string;
  entry: string;
  /** `http`, `timer`, `plugin`. */
  trigger: string;
  status: RunStatus;
  /** 0–1. */
  progress: number | null;
  stage: string | null;
  message: string | null;
  metrics: Record<string, number>;
  exports: RunExport[];
  result: unknown;
  error: { code: string; message: string } | null;
  parentRunId: string | null;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
}

/** Largest export a run may hand out (base64 of binary data counts). */
export const MAX_EXPORT_BYTES = 4 * 1024 * 1024;
const PROGRESS_EVENT_MS = 250;

interface Live {
  record: RunRecord;
  lastEventAt: number;
  eventTimer: ReturnType<typeof setTimeout> | null;
  onCancel: (() => void) | null;
}

export class RunTracker {
  #live = new Map<string, Live>();
  /** Recently ended runs, answered from memory until their last write is surely on disk. */
  #recent = new Map<string, RunRecord>();
  /** Run states waiting for the next batched write (one upsert per run per flush). */
  #dirty = new Map<string, RunRecord>();
  #flushing: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly o: { repo: PluginRepo; bus: EventBus; clock: Clock; logger: Logger; flushMs?: number }) {}

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.o.flushMs ?? 250);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }

  #iso(): string {
    return new Date(this.o.clock.now()).toISOString();
  }

  #write(l: Live): void {
    this.#dirty.set(l.record.id, { ...l.record });
  }

  /**
   * Writes every changed run in one transaction. Batched because SQLite commits are synchronous
   * and durable (synchronous=FULL): three commits per call would stall the event loop.
   */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (!this.#dirty.size) return;
      const batch = [...this.#dirty.values()];
      this.#dirty.clear();
      await this.o.repo.upsertRuns(batch).catch((err) => this.o.logger.error({ err, runs: batch.length }, 'run write failed'));
    });
    return this.#flushing;
  }

  #emit(l: Live): void {
    if (l.eventTimer) clearTimeout(l.eventTimer);
    l.eventTimer = null;
    l.lastEventAt = this.o.clock.now();
    this.o.bus.emit('plugin.run', { run: publicRun(l.record) });
  }

  create(p: { pluginId: string; entry: string; trigger: string; parentRunId?: string | null }): RunRecord {
    const record: RunRecord = {
      id: crypto.randomUUID(),
      pluginId: p.pluginId,
      entry: p.entry,
      trigger: p.trigger,
      status: 'queued',
      progress: null,
      stage: null,
      message: null,
      metrics: {},
      exports: [],
      result: null,
      error: null,
      parentRunId: p.parentRunId ?? null,
      createdAt: this.#iso(),
      startedAt: null,
      endedAt: null,
    };
    const l: Live = { record, lastEventAt: 0, eventTimer: null, onCancel: null };
    this.#live.set(record.id, l);
    this.#write(l);
    this.#emit(l);
    return record;
  }

  isLive(id: string): boolean {
    return this.#live.has(id);
  }

  markRunning(id: string, onCancel: () => void): void {
    const l = this.#live.get(id);
    if (l?.record.status !== 'queued') return;
    l.record.status = 'running';
    l.record.startedAt = this.#iso();
    l.onCancel = onCancel;
    this.#write(l);
    this.#emit(l);
  }

  /** Applies a `run.update` from the plugin; events are throttled, the last one always goes out. */
  update(u: RunUpdate): void {
    const l = this.#live.get(u.runId);
    if (!l) return;
    const r = l.record;
    if (typeof u.progress === 'number' && Number.isFinite(u.progress)) r.progress = Math.min(1, Math.max(0, u.progress));
    if (typeof u.stage === 'string') r.stage = u.stage.slice(0, 200);
    if (typeof u.message === 'string') r.message = u.message.slice(0, 2000);
    for (const [k, v] of Object.entries(u.metrics ?? {})) if (typeof v === 'number' && Number.isFinite(v)) r.metrics[k.slice(0, 100)] = v;
    for (const e of u.exports ?? []) {
      const size = JSON.stringify(e).length;
      if (size > MAX_EXPORT_BYTES) {
        r.exports.push({ kind: 'text', name: String((e as { name?: unknown }).name ?? 'export'), text: `(dropped: ${size} bytes is over the ${MAX_EXPORT_BYTES} byte export limit)` });
      } else if (e && (e.kind === 'text' || e.kind === 'url' || e.kind === 'binary')) r.exports.push(e);
    }
    const wait = PROGRESS_EVENT_MS - (this.o.clock.now() - l.lastEventAt);
    if (wait <= 0) this.#emit(l);
    else l.eventTimer ??= setTimeout(() => this.#emit(l), wait);
  }

  /** Ends a run once; later calls (a late answer after a timeout) are ignored. */
  finish(id: string, outcome: { status: 'succeeded'; result: unknown } | { status: 'failed' | 'cancelled'; error: { code: string; message: string } }): void {
    const l = this.#live.get(id);
    if (!l) return;
    this.#live.delete(id);
    const r = l.record;
    this.#recent.set(id, r);
    if (this.#recent.size > 500) this.#recent.delete(this.#recent.keys().next().value!);
    r.status = outcome.status;
    r.endedAt = this.#iso();
    r.startedAt ??= r.endedAt;
    if (outcome.status === 'succeeded') {
      r.result = outcome.result === undefined ? null : outcome.result;
      r.progress = 1;
    } else r.error = outcome.error;
    this.#write(l);
    this.#emit(l);
  }

  /** Asks a live run to stop; it ends as `cancelled` at once (its late answer is ignored). */
  cancel(id: string): boolean {
    const l = this.#live.get(id);
    if (!l) return false;
    const onCancel = l.onCancel;
    this.finish(id, { status: 'cancelled', error: { code: 'cancelled', message: 'cancelled by request' } });
    onCancel?.();
    return true;
  }

  liveRuns(pluginId?: string): RunRecord[] {
    return [...this.#live.values()].map((l) => l.record).filter((r) => !pluginId || r.pluginId === pluginId);
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const l = this.#live.get(id);
    if (l) return { ...l.record };
    const recent = this.#recent.get(id) ?? this.#dirty.get(id);
    if (recent) return { ...recent };
    return this.o.repo.getRun(id);
  }

  /** Waits until every change so far is written (tests, benchmarks). */
  settle(): Promise<void> {
    return this.flush();
  }
}

/** The API shape of a run (docs/api.md: id, pluginId, entry, status, progress, stage, result, error). */
export function publicRun(r: RunRecord) {
  return {
    id: r.id,
    pluginId: r.pluginId,
    entry: r.entry,
    trigger: r.trigger,
    status: r.status,
    progress: r.progress,
    stage: r.stage,
    message: r.message,
    metrics: r.metrics,
    exports: r.exports,
    result: r.result,
    error: r.error,
    parentRunId: r.parentRunId,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
  };
}
