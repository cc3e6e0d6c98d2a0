/**
 * A local ONNX model file as a detector: YOLO-style output decoded, then non-maximum suppression.
 * onnxruntime-node is an optional dependency (≈290 MB); it is loaded with a lazy `import()` on
 * first use, so a server without it starts and runs, and this detector reports itself unavailable
 * with the reason.
 *
 * Input: the frame letterboxed (aspect kept, grey 114 padding, as YOLO trains) to the model's
 * square input, RGB, CHW float32 0–1. Output, one tensor of rank 3, either layout:
 * - YOLOv5 `[1, N, 5 + C]`: cx, cy, w, h, objectness, C class scores (score = obj × class);
 * - YOLOv8 `[1, 4 + C, N]`: cx, cy, w, h, C class scores.
 * `auto` takes the larger of the two trailing dimensions as N, then YOLOv8 when the row has
 * 4 + labels values and YOLOv5 otherwise. Boxes come back in pixels of the original frame.
 */
import fs from 'node:fs';
import { loadSharp } from '../../util/sharp-lazy.ts';
import type { Detection, DetectorCapability } from '../../registry/capabilities.ts';
import { DetectorError } from './http.ts';

export interface OnnxConfig {
  modelPath: string;
  /** Class names in output order (default ['failure'], Obico's one class). */
  labels?: string[];
  format?: 'auto' | 'yolov5' | 'yolov8';
  /** Boxes under this score are dropped before NMS (Obico THRESH 0.08). */
  scoreThreshold?: number;
  /** NMS IoU (Obico 0.45). */
  iouThreshold?: number;
  /** Input side when the model does not fix it (default 640). */
  inputSize?: number;
}

type Ort = typeof import('onnxruntime-node');
let ortPromise: Promise<Ort | null> | null = null;
let ortError = '';

const missing = (err: Error) =>
  `onnxruntime-node is not installed (optional dependency; npm install onnxruntime-node@1.30.0 with ONNXRUNTIME_NODE_INSTALL=skip): ${err.message.split('\n')[0]}`;

/** Loads onnxruntime-node once; null (with the reason in `onnxRuntimeProblem()`) when it is not installed. */
export function loadOnnxRuntime(): Promise<Ort | null> {
  ortPromise ??= import('onnxruntime-node').then(
    (m) => ((m as { default?: Ort }).default ?? m) as Ort,
    (err: Error) => {
      ortError = missing(err);
      return null;
    },
  );
  return ortPromise;
}

export function onnxRuntimeProblem(): string {
  return ortError;
}

/** How the detector gets the runtime; tests pass a loader that fails, as on a machine without it. */
export type RuntimeLoader = () => Promise<{ ort: Ort | null; problem: string }>;

const defaultLoader: RuntimeLoader = async () => ({ ort: await loadOnnxRuntime(), problem: onnxRuntimeProblem() });

/** A loader for a runtime that cannot be imported (what a server without the optional package sees). */
export function failingLoader(importer: () => Promise<unknown>): RuntimeLoader {
  return async () => {
    try {
      return { ort: ((await importer()) as { default?: Ort }).default ?? null, problem: '' };
    } catch (err) {
      return { ort: null, problem: missing(err as Error) };
    }
  };
}

/** Intersection over union of two [x, y, w, h] boxes. */
export function iou(a: Detection['box'], b: Detection['box']): number {
  const x1 = Math.max(a[0], b[0]);
  const y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[0] + a[2], b[0] + b[2]);
  const y2 = Math.min(a[1] + a[3], b[1] + b[3]);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a[2] * a[3] + b[2] * b[3] - inter;
  return union > 0 ? inter / union : 0;
}

/** Greedy per-label NMS: the strongest box wins, overlapping ones of the same label go. */
export function nms(dets: Detection[], iouThreshold: number): Detection[] {
  const sorted = [...dets].sort((a, b) => b.confidence - a.confidence);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (kept.some((k) => k.label === d.label && iou(k.box, d.box) > iouThreshold)) continue;
    kept.push(d);
  }
  return kept;
}

export interface Letterbox {
  scale: number;
  padX: number;
  padY: number;
  width: number;
  height: number;
}

/**
 * Decodes a YOLO output tensor (`data` with `dims`) into detections in original-frame pixels.
 * Exported for tests; see the file header for the layouts.
 */
export function decodeYolo(
  data: Float32Array,
  dims: readonly number[],
  opts: {
    labels: string[];
    format: 'auto' | 'yolov5' | 'yolov8';
    scoreThreshold: number;
    iouThreshold: number;
    letterbox: Letterbox;
  },
): Detection[] {
  if (dims.length !== 3 || dims[0] !== 1)
    throw new DetectorError(
      'detector_bad_answer',
      `model output has shape [${dims.join(', ')}]; expected [1, N, K] or [1, K, N]`,
    );
  const a = dims[1]!;
  const b = dims[2]!;
  // rowsFirst = [1, N, K]: YOLOv5's layout; YOLOv8 transposes it. `auto`: N (boxes) is the larger.
  const rowsFirst = opts.format === 'yolov5' ? true : opts.format === 'yolov8' ? false : a >= b;
  const n = rowsFirst ? a : b;
  const k = rowsFirst ? b : a;
  const at = (i: number, j: number) => (rowsFirst ? data[i * k + j]! : data[j * n + i]!);
  let format = opts.format;
  if (format === 'auto') format = k === 4 + opts.labels.length ? 'yolov8' : 'yolov5';
  const classStart = format === 'yolov5' ? 5 : 4;
  const classes = k - classStart;
  if (classes < 0 || (format === 'yolov5' && k < 5))
    throw new DetectorError('detector_bad_answer', `model output rows of ${k} values do not fit ${format}`);
  const { scale, padX, padY, width, height } = opts.letterbox;
  const out: Detection[] = [];
  for (let i = 0; i < n; i++) {
    let best = classes === 0 ? 1 : 0;
    let cls = 0;
    for (let c = 0; c < classes; c++) {
      const v = at(i, classStart + c);
      if (v > best) {
        best = v;
        cls = c;
      }
    }
    const score = format === 'yolov5' ? at(i, 4) * best : best;
    if (!(score >= opts.scoreThreshold)) continue;
    const cx = (at(i, 0) - padX) / scale;
    const cy = (at(i, 1) - padY) / scale;
    const w = at(i, 2) / scale;
    const h = at(i, 3) / scale;
    const x0 = Math.max(0, cx - w / 2);
    const y0 = Math.max(0, cy - h / 2);
    const x1 = Math.min(width, cx + w / 2);
    const y1 = Math.min(height, cy + h / 2);
    if (x1 <= x0 || y1 <= y0) continue;
    out.push({
      label: opts.labels[cls] ?? `class_${cls}`,
      confidence: Math.min(1, score),
      box: [x0, y0, x1 - x0, y1 - y0],
    });
  }
  return nms(out, opts.iouThreshold);
}

/** Letterboxes a JPEG to side×side RGB float32 CHW (0–1). */
export async function letterbox(jpeg: Buffer, side: number): Promise<{ tensor: Float32Array; box: Letterbox }> {
  const meta = await (await loadSharp())(jpeg, { limitInputPixels: 40_000_000 }).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!width || !height) throw new DetectorError('detector_failed', 'frame has no size');
  const scale = Math.min(side / width, side / height);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const padX = Math.floor((side - w) / 2);
  const padY = Math.floor((side - h) / 2);
  const { data } = await (await loadSharp())(jpeg, { limitInputPixels: 40_000_000 })
    .removeAlpha()
    .resize(w, h, { fit: 'fill' })
    .extend({
      top: padY,
      bottom: side - h - padY,
      left: padX,
      right: side - w - padX,
      background: { r: 114, g: 114, b: 114 },
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = side * side;
  const tensor = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    tensor[i] = data[i * 3]! / 255;
    tensor[plane + i] = data[i * 3 + 1]! / 255;
    tensor[2 * plane + i] = data[i * 3 + 2]! / 255;
  }
  return { tensor, box: { scale, padX, padY, width, height } };
}

export interface OnnxDetector extends DetectorCapability {
  /** Null when usable; else why not (runtime missing, model file missing or unreadable). */
  problem(): Promise<string | null>;
}

export function onnxDetector(config: OnnxConfig, loadRuntime: RuntimeLoader = defaultLoader): OnnxDetector {
  const labels = config.labels?.length ? config.labels : ['failure'];
  let session: Promise<{
    run: (x: Float32Array) => Promise<{ data: Float32Array; dims: readonly number[] }>;
    side: number;
  }> | null = null;

  const open = () => {
    session ??= (async () => {
      const { ort, problem } = await loadRuntime();
      if (!ort) throw new DetectorError('detector_unavailable', problem);
      let model: Buffer;
      try {
        model = await fs.promises.readFile(config.modelPath);
      } catch (err) {
        throw new DetectorError(
          'detector_unavailable',
          `model file ${config.modelPath} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
      let s: import('onnxruntime-node').InferenceSession;
      try {
        s = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
      } catch (err) {
        throw new DetectorError(
          'detector_unavailable',
          `model ${config.modelPath} cannot be loaded: ${(err as Error).message.split('\n')[0]}`,
        );
      }
      const inputName = s.inputNames[0]!;
      const outputName = s.outputNames[0]!;
      const meta = (s as unknown as { inputMetadata?: Array<{ shape?: unknown[] }> }).inputMetadata?.[0];
      const fixed = meta?.shape?.[2];
      const side = typeof fixed === 'number' && fixed > 0 ? fixed : (config.inputSize ?? 640);
      return {
        side,
        run: async (x: Float32Array) => {
          const out = await s.run({ [inputName]: new ort.Tensor('float32', x, [1, 3, side, side]) });
          const t = out[outputName]!;
          return { data: t.data as Float32Array, dims: t.dims };
        },
      };
    })();
    session.catch(() => {
      // Let a later call try again (the model file may appear, the package may be installed).
      session = null;
    });
    return session;
  };

  return {
    async problem() {
      try {
        await open();
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    },
    async detect(frame) {
      const s = await open();
      const { tensor, box } = await letterbox(frame.jpeg, s.side);
      const { data, dims } = await s.run(tensor);
      const detections = decodeYolo(data, dims, {
        labels,
        format: config.format ?? 'auto',
        scoreThreshold: config.scoreThreshold ?? 0.08,
        iouThreshold: config.iouThreshold ?? 0.45,
        letterbox: box,
      });
      return { detections, model: `onnx:${config.modelPath.split(/[\\/]/).pop()}` };
    },
  };
}
