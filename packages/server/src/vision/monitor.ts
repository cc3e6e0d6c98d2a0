/**
 * The AI monitor: watches every printer whose AI is on while it prints. Each check is
 * snapshot → stored frame → detector → score → temporal rule (rule.ts) → action → history row.
 *
 * - A camera or detector failure (timeout, HTTP error, garbage) is recorded as an `error`
 *   analysis and never feeds the rule, so it can never pause a print.
 * - warn → an `ai_failure_warning` alert carrying the frame and boxes;
 * - pause → the printer's own pause through its driver, the queue paused (nothing new starts on a
 *   farm with a failing print), the frame kept, and an `ai_paused_print` alert that says the AI
 *   did it and why. At most once per print (the rule's latch).
 * - Print boundaries come from printer.state events: a new job starts the rule's per-print values
 *   over, paused → printing is a resume (the rule resets the excess and re-arms).
 * Time comes from the injected clock: one 1 s tick decides which printers are due.
 */
import crypto from 'node:crypto';
import { raiseAlert } from '../alerts/raise.ts';
import type { Infra } from '../app-context.ts';
import { notFound } from '../errors.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import type { PrinterState } from '../printers/model.ts';
import type { Detection } from '../registry/capabilities.ts';
import type { VisionAnalysesTable } from '../storage/schema.ts';
import type { TimerHandle } from '../util/clock.ts';
import type { DetectorHub } from './detectors/hub.ts';
import type { FrameStore, StoredFrame } from './frame-store.ts';
import { type AnalysisView, frameUrl, presentAnalysis } from './present.ts';
import {
  type RuleState,
  type StepResult,
  acknowledge,
  countedDetections,
  defaultRuleParams,
  frameScore,
  initialRuleState,
  notAFailure,
  resumePrint,
  startPrint,
  stepRule,
} from './rule.ts';
import { type VisionSettings, defaultVisionSettings, mergeVisionSettings } from './settings.ts';
import { takeSnapshot } from './snapshots.ts';

export interface MonitorOptions {
  infra: Infra;
  fleet: FleetView;
  frames: FrameStore;
  detectors: DetectorHub;
  /** Pauses the farm queue (QueueService.setRunning(false)). */
  pauseQueue: () => Promise<void>;
  /** Bound on one detector call, ms (default 30 s; the seed service waits for its callback within it). */
  detectTimeoutMs?: number;
}

interface Watched {
  settings: VisionSettings;
  rule: RuleState;
  lastStatus: PrinterState['status'] | null;
  busy: boolean;
  lastRunAt: number;
}

const ACTIVE = new Set(['printing', 'preparing', 'paused']);

export class VisionMonitor {
  readonly #o: MonitorOptions;
  readonly #printers = new Map<string, Watched>();
  #timer: TimerHandle | null = null;
  #stopped = false;
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(opts: MonitorOptions) {
    this.#o = opts;
  }

  get #infra() {
    return this.#o.infra;
  }

  async start(): Promise<void> {
    const rows = await this.#infra.storage.db.selectFrom('vision_printers').selectAll().execute();
    for (const r of rows) {
      this.#printers.set(r.printer_id, {
        settings: { ...defaultVisionSettings, ...(JSON.parse(r.settings_json) as Partial<VisionSettings>) },
        rule: { ...initialRuleState(), ...(JSON.parse(r.state_json) as Partial<RuleState>) },
        lastStatus: null,
        busy: false,
        lastRunAt: 0,
      });
    }
    const bus = this.#infra.bus;
    bus.on('printer.state', this, ({ printerId, state }) => this.#onState(printerId, state));
    bus.on('printer.removed', this, ({ printerId }) => void this.#forget(printerId));
    // Scale-out: settings changed through another server process apply here at once (it may be
    // this process that runs the printer).
    bus.on(
      'ai.settings',
      this,
      ({ printerId, settings }) => {
        this.#watched(printerId).settings = { ...defaultVisionSettings, ...(settings as Partial<VisionSettings>) };
      },
      'remote',
    );
    this.#timer = this.#infra.clock.setInterval(() => this.#tick(), 1000);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#infra.bus.removeListeners(this);
    this.#infra.clock.clearInterval(this.#timer);
    await Promise.allSettled([...this.#inflight]);
  }

  #watched(printerId: string): Watched {
    let w = this.#printers.get(printerId);
    if (!w) {
      w = {
        settings: { ...defaultVisionSettings },
        rule: initialRuleState(),
        lastStatus: null,
        busy: false,
        lastRunAt: 0,
      };
      this.#printers.set(printerId, w);
    }
    return w;
  }

  settings(printerId: string): VisionSettings {
    if (!this.#o.fleet.get(printerId)) throw notFound('printer');
    return structuredClone(this.#watched(printerId).settings);
  }

  ruleState(printerId: string): RuleState {
    return { ...this.#watched(printerId).rule };
  }

  /** Validates and stores a settings patch; it applies from the next tick. */
  async updateSettings(printerId: string, patch: Record<string, unknown>): Promise<VisionSettings> {
    if (!this.#o.fleet.get(printerId)) throw notFound('printer');
    const w = this.#watched(printerId);
    w.settings = mergeVisionSettings(w.settings, patch);
    await this.#save(printerId, w);
    this.#infra.bus.emit('ai.settings', { printerId, settings: structuredClone(w.settings) as unknown as Record<string, unknown> });
    return structuredClone(w.settings);
  }

  /** The camera URL a printer's settings name (for the `url` snapshot source). */
  cameraUrl(printerId: string): string | null {
    return this.#printers.get(printerId)?.settings.cameraUrl ?? null;
  }

  async #save(printerId: string, w: Watched): Promise<void> {
    const db = this.#infra.storage.db;
    const values = {
      printer_id: printerId,
      settings_json: JSON.stringify(w.settings),
      state_json: JSON.stringify(w.rule),
      updated_at: new Date(this.#infra.clock.now()).toISOString(),
    };
    await db
      .insertInto('vision_printers')
      .values(values)
      .onConflict((oc) =>
        oc.column('printer_id').doUpdateSet({
          settings_json: values.settings_json,
          state_json: values.state_json,
          updated_at: values.updated_at,
        }),
      )
      .execute();
  }

  async #forget(printerId: string): Promise<void> {
    this.#printers.delete(printerId);
    await this.#infra.storage.db.deleteFrom('vision_printers').where('printer_id', '=', printerId).execute();
  }

  #printKey(state: PrinterState): string | null {
    return state.job?.jobId ?? state.job?.fileName ?? null;
  }

  #onState(printerId: string, state: PrinterState): void {
    const w = this.#printers.get(printerId);
    if (!w) return;
    const prev = w.lastStatus;
    w.lastStatus = state.status;
    const key = this.#printKey(state);
    const active = ACTIVE.has(state.status);
    if (active && (w.rule.printKey !== key || (prev !== null && !ACTIVE.has(prev)))) {
      if (prev === null && w.rule.printKey === key && w.rule.frameNum > 0) return; // restart mid-print: carry on
      w.rule = startPrint(w.rule, key);
      void this.#save(printerId, w).catch(() => {});
    } else if (prev === 'paused' && state.status === 'printing') {
      w.rule = resumePrint(w.rule, this.#infra.clock.now());
      void this.#save(printerId, w).catch(() => {});
    }
  }

  #tick(): void {
    if (this.#stopped) return;
    const now = this.#infra.clock.now();
    for (const [printerId, w] of this.#printers) {
      if (!w.settings.enabled || w.busy) continue;
      if (now - w.lastRunAt < w.settings.intervalSeconds * 1000) continue;
      // Scale-out: the process that runs the printer watches it; the others would only repeat it.
      if (!(this.#o.fleet.isLocal?.(printerId) ?? true)) continue;
      const p = this.#o.fleet.get(printerId);
      if (p?.state.status !== 'printing') continue;
      w.lastRunAt = now;
      const run = this.analyse(printerId, 'auto').catch((err) =>
        this.#infra.logger.warn({ err, printerId }, 'AI check failed'),
      );
      this.#inflight.add(run);
      void run.finally(() => this.#inflight.delete(run));
    }
  }

  /**
   * One check. `auto` feeds the rule and may warn or pause; `manual` (the "AI check now" button,
   * seed §3 step 1) only records what the detector sees: one frame never pauses a print.
   */
  async analyse(
    printerId: string,
    trigger: 'auto' | 'manual',
    given?: StoredFrame & { jpeg: Buffer },
  ): Promise<AnalysisView> {
    const p = this.#o.fleet.get(printerId);
    if (!p) throw notFound('printer');
    const w = this.#watched(printerId);
    w.busy = true;
    try {
      return await this.#analyse(printerId, w, trigger, given);
    } finally {
      w.busy = false;
    }
  }

  async #analyse(
    printerId: string,
    w: Watched,
    trigger: 'auto' | 'manual',
    given?: StoredFrame & { jpeg: Buffer },
  ): Promise<AnalysisView> {
    const clock = this.#infra.clock;
    const s = w.settings;
    const detectorName = s.detector ?? (await this.#o.detectors.defaultName());
    const printer = this.#o.fleet.get(printerId)!;
    const base: VisionAnalysesTable = {
      id: crypto.randomUUID(),
      printer_id: printerId,
      job_id: printer.state.job?.jobId ?? null,
      print_key: w.rule.printKey,
      at: new Date(clock.now()).toISOString(),
      trigger,
      detector: detectorName,
      model: null,
      status: 'ok',
      error: null,
      frame_id: null,
      width: null,
      height: null,
      detections_json: '[]',
      score: null,
      adjusted: null,
      verdict: null,
      reason: null,
    };
    let frame = given;
    try {
      if (!frame) {
        const shot = await takeSnapshot(this.#infra.registry, printerId, s.snapshotSource);
        frame = await this.#o.frames.save(shot.jpeg, printerId);
      }
    } catch (err) {
      return this.#record({
        ...base,
        status: 'error',
        error: `camera: ${(err as Error).message}`,
        reason: 'camera_failed',
      });
    }
    Object.assign(base, { frame_id: frame.id, width: frame.width, height: frame.height, at: frame.at });
    const detector = this.#o.detectors.get(detectorName);
    if (!detector)
      return this.#record({
        ...base,
        status: 'error',
        error: `detector "${detectorName}" is not available`,
        reason: 'detector_missing',
      });
    let detections: Detection[];
    const ctrl = new AbortController();
    const limit = this.#o.detectTimeoutMs ?? 30_000;
    const timer = clock.setTimeout(() => ctrl.abort(), limit);
    try {
      const answer = await Promise.race([
        detector.detect({ jpeg: frame.jpeg, printerId }, { signal: ctrl.signal }),
        new Promise<never>((_, reject) =>
          ctrl.signal.addEventListener(
            'abort',
            () => reject(new Error(`the detector gave no answer within ${Math.round(limit / 1000)} s`)),
            { once: true },
          ),
        ),
      ]);
      detections = sanitise(answer.detections);
      base.model = typeof answer.model === 'string' ? answer.model.slice(0, 200) : null;
    } catch (err) {
      return this.#record({
        ...base,
        status: 'error',
        error: `detector: ${(err as Error).message}`.slice(0, 1000),
        reason: 'detector_failed',
      });
    } finally {
      clock.clearTimeout(timer);
    }
    const scoreOpts = {
      confidenceThreshold: s.confidenceThreshold,
      width: frame.width,
      height: frame.height,
      regions: s.regions,
    };
    const score = frameScore(detections, scoreOpts);
    base.detections_json = JSON.stringify(detections);
    base.score = round(score);
    if (trigger === 'manual' || printer.state.status !== 'printing') {
      return this.#record({ ...base, reason: 'manual_check' });
    }
    const step = stepRule(w.rule, score, {
      now: clock.now(),
      sensitivity: s.sensitivity,
      action: s.action,
      params: { ...defaultRuleParams, ...s.rule },
    });
    w.rule = step.state;
    base.adjusted = round(step.adjusted);
    base.verdict = step.verdict;
    base.reason = step.reason;
    await this.#save(printerId, w);
    const view = await this.#record(base);
    if (step.verdict !== 'ok') await this.#act(printerId, step, view, countedDetections(detections, scoreOpts));
    return view;
  }

  async #record(row: VisionAnalysesTable): Promise<AnalysisView> {
    await this.#infra.storage.db.insertInto('vision_analyses').values(row).execute();
    const view = presentAnalysis(row);
    this.#infra.bus.emit('ai.analysis', {
      printerId: row.printer_id ?? '',
      analysis: view as unknown as Record<string, unknown>,
    });
    return view;
  }

  async #act(printerId: string, step: StepResult, a: AnalysisView, counted: Detection[]): Promise<void> {
    const p = this.#o.fleet.get(printerId);
    if (!p) return;
    if (a.frameId) await this.#o.frames.keep(a.frameId);
    const w = this.#watched(printerId);
    const params = { ...defaultRuleParams, ...w.settings.rule };
    const common = {
      printerName: p.summary.name,
      analysisId: a.id,
      frameId: a.frameId,
      frameUrl: frameUrl(a.frameId),
      boxes: counted,
      score: a.score,
      adjusted: a.adjusted,
      // Where acting starts: warnings above LOW, pauses above LOW × pauseFactor (and only when the
      // score also stands out against this print's own history, or passes HIGH).
      warnLine: params.low,
      pauseLine: round(params.low * params.pauseFactor),
      detector: a.detector,
      model: a.model,
      jobId: a.jobId,
      reason: step.reason,
    };
    const what = `${counted.length} suspicious area${counted.length === 1 ? '' : 's'}, score ${a.adjusted?.toFixed(2)}`;
    if (step.verdict === 'warn') {
      raiseAlert(this.#infra.bus, {
        level: 'warning',
        code: 'ai_failure_warning',
        message: `AI sees a possible print failure on ${p.summary.name} (${what}); look at the frame`,
        params: common,
        printerId,
      });
      return;
    }
    let paused = true;
    let pauseError: string | null = null;
    try {
      if (p.state.status === 'printing' || p.state.status === 'preparing') {
        await p.driver.pause();
        this.#o.fleet.markPausedBy?.(printerId, 'ai');
      }
    } catch (err) {
      paused = false;
      pauseError = (err as Error).message;
    }
    try {
      await this.#o.pauseQueue();
    } catch (err) {
      this.#infra.logger.error({ err }, 'AI pause: the queue could not be paused');
    }
    raiseAlert(this.#infra.bus, {
      level: 'error',
      code: paused ? 'ai_paused_print' : 'ai_pause_failed',
      message: paused
        ? `AI paused ${p.summary.name}: the camera shows a likely print failure (${what}, over the pause threshold ${common.pauseLine}); the queue is paused. Check the frame, then resume or cancel.`
        : `AI wanted to pause ${p.summary.name} (${what}) but the printer refused: ${pauseError}. The queue is paused; check the printer now.`,
      params: { ...common, pauseError },
      printerId,
    });
  }

  /** The user answered: 'acknowledge' (saw it) or 'not_failure' (raises this print's baseline). */
  async feedback(printerId: string, verdict: 'acknowledge' | 'not_failure'): Promise<RuleState> {
    if (!this.#o.fleet.get(printerId)) throw notFound('printer');
    const w = this.#watched(printerId);
    const now = this.#infra.clock.now();
    w.rule = verdict === 'not_failure' ? notAFailure(w.rule, now) : acknowledge(w.rule, now);
    await this.#save(printerId, w);
    return { ...w.rule };
  }

  async latest(printerId: string | null): Promise<AnalysisView | null> {
    let q = this.#infra.storage.db
      .selectFrom('vision_analyses')
      .selectAll()
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(1);
    if (printerId) q = q.where('printer_id', '=', printerId);
    const row = await q.executeTakeFirst();
    return row ? presentAnalysis(row) : null;
  }

  async history(f: {
    printerId?: string | null;
    jobId?: string | null;
    limit?: number;
    before?: string | null;
    verdict?: string | null;
  }): Promise<AnalysisView[]> {
    let q = this.#infra.storage.db
      .selectFrom('vision_analyses')
      .selectAll()
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(Math.min(1000, f.limit ?? 50));
    if (f.printerId) q = q.where('printer_id', '=', f.printerId);
    if (f.jobId) q = q.where('job_id', '=', f.jobId);
    if (f.before) q = q.where('at', '<', f.before);
    if (f.verdict === 'alerts') q = q.where('verdict', 'in', ['warn', 'pause']);
    else if (f.verdict) q = q.where('verdict', '=', f.verdict);
    return (await q.execute()).map(presentAnalysis);
  }

  /** Scores of the current print, oldest first (for the chart). */
  async series(printerId: string): Promise<Array<Pick<AnalysisView, 'at' | 'score' | 'adjusted' | 'verdict'>>> {
    const key = this.#watched(printerId).rule.printKey;
    let q = this.#infra.storage.db
      .selectFrom('vision_analyses')
      .select(['at', 'score', 'adjusted', 'verdict'])
      .where('printer_id', '=', printerId)
      .where('trigger', '=', 'auto')
      .where('status', '=', 'ok')
      .orderBy('at', 'desc')
      .limit(2000);
    q = key === null ? q.where('print_key', 'is', null) : q.where('print_key', '=', key);
    const rows = await q.execute();
    return rows.reverse().map((r) => ({
      at: r.at,
      score: r.score,
      adjusted: r.adjusted,
      verdict: (r.verdict as AnalysisView['verdict']) ?? null,
    }));
  }
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** Keeps only well-formed detections (a plugin or service may send anything). */
function sanitise(list: unknown): Detection[] {
  if (!Array.isArray(list)) throw new Error('the detector answered without a detections list');
  return list
    .filter(
      (d): d is Detection =>
        !!d &&
        typeof d === 'object' &&
        typeof (d as Detection).confidence === 'number' &&
        Number.isFinite((d as Detection).confidence) &&
        Array.isArray((d as Detection).box) &&
        (d as Detection).box.length === 4 &&
        (d as Detection).box.every((v) => typeof v === 'number' && Number.isFinite(v)),
    )
    .slice(0, 200)
    .map((d) => ({
      label: typeof d.label === 'string' ? d.label.slice(0, 100) : 'failure',
      confidence: Math.max(0, Math.min(1, d.confidence)),
      box: d.box.map((v) => Math.round(v * 10) / 10) as Detection['box'],
    }));
}
