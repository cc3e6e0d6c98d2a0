/** Shapes of the AI monitoring API (docs/api.md Additions, AI monitoring; server vision/present.ts). */
export interface Detection {
  label: string;
  confidence: number;
  /** [x, y, width, height] in pixels of the frame. */
  box: [number, number, number, number];
}

export interface Analysis {
  id: string;
  printerId: string | null;
  jobId: string | null;
  at: string;
  trigger: 'auto' | 'manual' | string;
  detector: string;
  model: string | null;
  status: 'ok' | 'error';
  error: string | null;
  frameId: string | null;
  frameUrl: string | null;
  width: number | null;
  height: number | null;
  detections: Detection[];
  score: number | null;
  adjusted: number | null;
  verdict: 'ok' | 'warn' | 'pause' | null;
  reason: string | null;
}

export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface VisionSettings {
  enabled: boolean;
  detector: string | null;
  confidenceThreshold: number;
  action: 'pause' | 'warn';
  sensitivity: number;
  intervalSeconds: number;
  regions: Region[];
  snapshotSource: string;
  cameraUrl: string | null;
  rule: Record<string, number>;
}

export interface PrinterAi {
  printerId: string;
  settings: VisionSettings;
  detector: string;
  rule: { frameNum: number; warmupFrames: number; pausedAt: string | null; baselineBoost: number };
  lines: { warn: number; pause: number };
  latest: Analysis | null;
  series: Array<{ at: string; score: number | null; adjusted: number | null; verdict: string | null }>;
  simulated: boolean;
}

export interface DetectorInfo {
  name: string;
  kind: string;
  location: 'local' | 'cloud';
  available: boolean;
  problem: string | null;
}
