/**
 * How analyses look in the API: our own shape (history, UI) and seed 002's (§4.6
 * `{"status":"success","result":{"confidence","defects":[{"type","location"}]}}`).
 */
import type { Detection } from '../registry/capabilities.ts';
import type { VisionAnalysesTable } from '../storage/schema.ts';

export interface AnalysisView {
  id: string;
  printerId: string | null;
  jobId: string | null;
  at: string;
  /** 'auto' (the monitor), 'manual' ("AI check now", POST /camera/snapshot). */
  trigger: string;
  detector: string;
  model: string | null;
  /** 'ok' = the detector answered; 'error' = camera or detector failed (never a pause). */
  status: 'ok' | 'error';
  error: string | null;
  frameId: string | null;
  frameUrl: string | null;
  width: number | null;
  height: number | null;
  /** Every box the detector returned, in pixels of the frame (top-left x, y, width, height). */
  detections: Detection[];
  /** Sum of the counted confidences (over the threshold, inside the regions). */
  score: number | null;
  /** The rule's value: EWM excess over the baseline × sensitivity (null for manual checks). */
  adjusted: number | null;
  verdict: 'ok' | 'warn' | 'pause' | null;
  reason: string | null;
}

export const frameUrl = (id: string | null) => (id ? `/api/v1/ai/frames/${id}` : null);

export function presentAnalysis(row: VisionAnalysesTable): AnalysisView {
  return {
    id: row.id,
    printerId: row.printer_id,
    jobId: row.job_id,
    at: row.at,
    trigger: row.trigger,
    detector: row.detector,
    model: row.model,
    status: row.status === 'error' ? 'error' : 'ok',
    error: row.error,
    frameId: row.frame_id,
    frameUrl: frameUrl(row.frame_id),
    width: row.width,
    height: row.height,
    detections: JSON.parse(row.detections_json) as Detection[],
    score: row.score,
    adjusted: row.adjusted,
    verdict: (row.verdict as AnalysisView['verdict']) ?? null,
    reason: row.reason,
  };
}

/** "top left" … "bottom right", "center": where a box's centre sits in the frame's thirds. */
export function locationOf(box: Detection['box'], width: number, height: number): string {
  if (!width || !height) return 'center';
  const cx = (box[0] + box[2] / 2) / width;
  const cy = (box[1] + box[3] / 2) / height;
  const v = cy < 1 / 3 ? 'top' : cy < 2 / 3 ? 'middle' : 'bottom';
  const h = cx < 1 / 3 ? 'left' : cx < 2 / 3 ? 'center' : 'right';
  if (v === 'middle' && h === 'center') return 'center';
  return v === 'middle' ? `middle ${h}` : `${v} ${h}`;
}

/** Seed 002 §4.6 `result`, plus our fields (camelCase) for clients that want more. */
export function seedResult(a: AnalysisView, threshold: number) {
  const counted = a.detections.filter((d) => d.confidence >= threshold);
  const top = counted.reduce<Detection | null>((best, d) => (!best || d.confidence > best.confidence ? d : best), null);
  return {
    confidence: top ? top.confidence : 0,
    defects: counted.map((d) => ({
      type: d.label,
      location: locationOf(d.box, a.width ?? 0, a.height ?? 0),
      confidence: d.confidence,
      box: d.box,
    })),
    has_defect: counted.length > 0,
    defect_type: top ? top.label : null,
    predict_model: a.model,
    printerId: a.printerId,
    analysisId: a.id,
    at: a.at,
    analysisStatus: a.status,
    error: a.error,
    image_url: a.frameUrl,
    score: a.score,
    adjusted: a.adjusted,
    verdict: a.verdict,
  };
}
