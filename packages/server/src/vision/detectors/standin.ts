/**
 * The built-in stand-in detector: no model, a few lines of image analysis, so a newcomer sees the
 * whole flow (warning, AI pause) on the demo fleet. It looks for what loose filament looks like
 * in a picture: saturated (coloured) pixels in thin, tangled strokes. A solid printed part is one
 * compact coloured blob whose 8×8 cells are either full or cut by one straight edge; spaghetti
 * cells are crossed by many strands (many coloured/background transitions). Neighbouring tangled
 * cells are grouped into boxes. It recognises the simulators' drawn spaghetti; on real cameras it
 * is no substitute for a trained model (use the ONNX, Obico or seed-service detectors there).
 */
import { loadSharp } from '../../util/sharp-lazy.ts';
import type { Detection, DetectorCapability } from '../../registry/capabilities.ts';

const CELL = 8;
/** Transitions inside one cell above which it is tangled; a straight edge gives ≤ 8, a corner ≤ 14. */
const TANGLED = 16;
const WORK_WIDTH = 320;

export async function standinDetections(
  jpeg: Buffer,
): Promise<{ detections: Detection[]; width: number; height: number }> {
  const img = (await loadSharp())(jpeg, { limitInputPixels: 40_000_000 });
  const meta = await img.metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!width || !height) throw new Error('frame has no size');
  const { data, info } = await img
    .resize({ width: WORK_WIDTH })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const W = info.width;
  const H = info.height;
  const C = info.channels;
  const mask = new Uint8Array(W * H);
  for (let i = 0; i < W * H; i++) {
    const r = data[i * C]!;
    const g = data[i * C + 1]!;
    const b = data[i * C + 2]!;
    const max = Math.max(r, g, b);
    mask[i] = max - Math.min(r, g, b) > 60 && max > 60 ? 1 : 0;
  }
  const cols = Math.floor(W / CELL);
  const rows = Math.floor(H / CELL);
  const tangle = new Float32Array(cols * rows);
  for (let cy = 0; cy < rows; cy++) {
    for (let cx = 0; cx < cols; cx++) {
      let t = 0;
      for (let y = 0; y < CELL; y++) {
        for (let x = 0; x < CELL; x++) {
          const at = (cy * CELL + y) * W + cx * CELL + x;
          const v = mask[at];
          if (x < CELL - 1 && mask[at + 1] !== v) t++;
          if (y < CELL - 1 && mask[at + W] !== v) t++;
        }
      }
      tangle[cy * cols + cx] = t >= TANGLED ? t : 0;
    }
  }
  // Group tangled cells (8-neighbourhood) into boxes.
  const seen = new Uint8Array(cols * rows);
  const detections: Detection[] = [];
  const scale = width / W;
  for (let start = 0; start < tangle.length; start++) {
    if (!tangle[start] || seen[start]) continue;
    const stack = [start];
    seen[start] = 1;
    let minX = cols;
    let minY = rows;
    let maxX = 0;
    let maxY = 0;
    let cells = 0;
    let sum = 0;
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % cols;
      const y = Math.floor(i / cols);
      cells++;
      sum += tangle[i]!;
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= cols || ny >= rows) continue;
          const j = ny * cols + nx;
          if (tangle[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    const confidence = Math.min(0.97, Math.max(0.05, 0.2 + 0.04 * cells + (sum / cells - TANGLED) / 60));
    detections.push({
      label: 'failure',
      confidence: Math.round(confidence * 1000) / 1000,
      box: [
        minX * CELL * scale,
        minY * CELL * scale,
        (maxX - minX + 1) * CELL * scale,
        (maxY - minY + 1) * CELL * scale,
      ].map(Math.round) as Detection['box'],
    });
  }
  detections.sort((a, b) => b.confidence - a.confidence);
  return { detections, width, height };
}

/** `detector@1` built in: always available, model "standin-tangle-1". */
export function standinDetector(): DetectorCapability {
  return {
    async detect(frame) {
      const { detections } = await standinDetections(frame.jpeg);
      return { detections, model: 'standin-tangle-1' };
    },
  };
}
