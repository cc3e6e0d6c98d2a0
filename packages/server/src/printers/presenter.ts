import type { FleetPrinter } from './fleet-types.ts';
import { issueFromNote } from './connection-issue.ts';
import { controlsOf } from './controls.ts';
import type { PrinterState } from './model.ts';
import { supportedOverrides } from '../queue/overrides.ts';

/** What the queue adds to each printer's public state (the gate, the cooldown, the queue item). */
export interface PrinterQueueInfo {
  gate: { open: boolean; code: string | null; reason: string | null; params: Record<string, unknown> };
  cooldownUntil: string | null;
  queueItemId: string | null;
  /** Why an idle printer gets no job (queue/wait-reasons.ts), null while printing or about to. */
  idleReason?: { code: string; message: string; params: Record<string, unknown> } | null;
}

export type QueueInfoProvider = (printerId: string) => PrinterQueueInfo;

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

export function presentState(printerId: string, state: PrinterState, queueInfo?: QueueInfoProvider) {
  const q = queueInfo?.(printerId);
  return {
    status: state.status,
    stale: state.stale,
    fullStatus: state.fullStatus,
    progress: state.progress,
    remainingSeconds: state.remainingSeconds,
    layer: state.layer,
    temperatures: state.temperatures,
    job: state.job ? { ...state.job, queueItemId: q?.queueItemId ?? null } : null,
    error: state.error,
    notices: state.notices ?? [],
    reported: state.reported ?? { model: null, nozzleDiameter: null },
    stage: state.stage,
    stageCode: state.stageCode ?? null,
    lastJob: state.lastJob ? { ...state.lastJob, at: iso(state.lastJob.at) } : null,
    connectionNote: state.connectionNote,
    connectionIssue: state.connectionIssue ?? issueFromNote(state.connectionNote, state.status),
    cooldownUntil: q?.cooldownUntil ?? null,
    gate: q?.gate ?? { open: false, code: 'queue_not_running', reason: 'the queue is not running', params: {} },
    idleReason: q?.idleReason ?? null,
    filament: state.filament ?? null,
    updatedAt: iso(state.updatedAt),
  };
}

export function presentPrinter(p: FleetPrinter, connection: Record<string, unknown>, queueInfo?: QueueInfoProvider) {
  return {
    id: p.summary.id,
    name: p.summary.name,
    driver: p.summary.driver,
    model: p.summary.model,
    enabled: p.summary.enabled,
    settings: p.summary.settings,
    connection,
    controls: controlsOf(p.summary.driver, p.driver),
    /** Print overrides this printer honours (Marlin/Klipper: none). */
    supportedOverrides: supportedOverrides(p.summary),
    state: presentState(p.summary.id, p.state, queueInfo),
  };
}
