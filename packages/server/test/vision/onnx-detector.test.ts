/**
 * The local ONNX detector with tiny models built here with onnx-proto (no downloaded weights):
 * real inference through onnxruntime-node (installed as the optional dependency in the dev setup
 * and CI), YOLOv5 and YOLOv8 output layouts, letterbox coordinates back to frame pixels, NMS, an
 * output that depends on the picture, and a clear "unavailable" without the runtime or the file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onnx } from 'onnx-proto';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeYolo, failingLoader, nms, onnxDetector } from '../../src/vision/detectors/onnx.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-onnx-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const tensor = (name: string, dims: number[], values: number[], type = F) =>
  onnx.TensorProto.create(
    type === F ? { name, dims, dataType: F, floatData: values } : { name, dims, dataType: I64, int64Data: values },
  );
const vinfo = (name: string, dims: number[]) =>
  onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: F,
        shape: onnx.TensorShapeProto.create({ dim: dims.map((d) => ({ dimValue: d })) }),
      }),
    }),
  });

/**
 * output = A × mean(red channel of the input) + B, shape `outDims`. So every value is a constant
 * except where A is non-zero: there the picture decides.
 */
function buildModel(side: number, outDims: number[], a: number[], b: number[]): string {
  const graph = onnx.GraphProto.create({
    name: 'tiny-yolo',
    input: [vinfo('images', [1, 3, side, side])],
    output: [vinfo('output0', outDims)],
    initializer: [
      tensor('starts', [1], [0], I64),
      tensor('ends', [1], [1], I64),
      tensor('axes', [1], [1], I64),
      tensor('shape', [3], [1, 1, 1], I64),
      tensor('A', outDims, a),
      tensor('B', outDims, b),
    ],
    node: [
      onnx.NodeProto.create({
        opType: 'ReduceMean',
        input: ['images'],
        output: ['means'],
        attribute: [
          { name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [2, 3] },
          { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
        ],
      }),
      onnx.NodeProto.create({ opType: 'Slice', input: ['means', 'starts', 'ends', 'axes'], output: ['red'] }),
      onnx.NodeProto.create({ opType: 'Reshape', input: ['red', 'shape'], output: ['r'] }),
      onnx.NodeProto.create({ opType: 'Mul', input: ['A', 'r'], output: ['ar'] }),
      onnx.NodeProto.create({ opType: 'Add', input: ['ar', 'B'], output: ['output0'] }),
    ],
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'rwc-test',
    graph,
  });
  const file = path.join(dir, `m${Math.random().toString(36).slice(2)}.onnx`);
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

/** A 128×64 picture of one colour: letterboxed into 64×64 it fills rows 16–48 (scale 0.5). */
const picture = (r: number, g: number, b: number) =>
  sharp({ create: { width: 128, height: 64, channels: 3, background: { r, g, b } } })
    .jpeg()
    .toBuffer();

describe('local ONNX detector (YOLO output, NMS)', () => {
  // YOLOv5 layout [1, 8, 6]: cx, cy, w, h, objectness, class score.
  const rows = [
    [32, 32, 16, 16, 0, 1], // objectness = mean red (A below)
    [33, 32, 16, 16, 0.5, 1], // overlaps row 0 (IoU ≈ 0.88)
    [10, 20, 8, 8, 0.9, 0.9], // a separate box: 0.81
    ...Array.from({ length: 5 }, (_, i) => [50, 40 + i, 4, 4, 0.01, 1]), // under the 0.08 threshold
  ];
  const b = rows.flat();
  const a = b.map((_, i) => (i === 4 ? 1 : 0));

  it('runs a tiny YOLOv5-layout model: picture-dependent scores, NMS, boxes in frame pixels', async () => {
    const det = onnxDetector({ modelPath: buildModel(64, [1, 8, 6], a, b) });
    expect(await det.problem()).toBeNull();

    const red = await det.detect({ jpeg: await picture(255, 0, 0) });
    expect(red.model).toMatch(/^onnx:m.*\.onnx$/);
    // Red fills half the letterboxed input, grey (114) the rest: mean red ≈ 0.72, so row 0 beats
    // row 1 (0.5) and NMS removes row 1; row 2 stays.
    expect(red.detections).toHaveLength(2);
    const [first, second] = red.detections;
    expect(first!.confidence).toBeCloseTo(0.81, 2);
    // Row 2: centre (10, 20), 8 px in the input = (20, 8), 16 px in the frame; clipped at the top.
    first!.box.forEach((v, i) => {
      expect(v).toBeCloseTo([12, 0, 16, 16][i]!, 0);
    });
    expect(second!.confidence).toBeGreaterThan(0.65);
    expect(second!.confidence).toBeLessThan(0.8);
    // Row 0: centre (32, 32) in the 64×64 input = (64, 32) in the 128×64 frame; 16 px = 32 px.
    second!.box.forEach((v, i) => {
      expect(v).toBeCloseTo([48, 16, 32, 32][i]!, 0);
    });

    const blue = await det.detect({ jpeg: await picture(0, 0, 255) });
    // Now row 0 scores ≈ 0.22 and row 1 (0.5) wins the overlap.
    expect(blue.detections).toHaveLength(2);
    const overlap = blue.detections.find((d) => d.box[0] > 40)!;
    expect(overlap.confidence).toBeCloseTo(0.5, 3);
    overlap.box.forEach((v, i) => {
      expect(v).toBeCloseTo([50, 16, 32, 32][i]!, 0);
    });
  });

  it('reads the YOLOv8 layout [1, 4 + classes, N] (class scores, no objectness)', async () => {
    const n = 10;
    const labels = ['spaghetti', 'blob'];
    const out = new Array((4 + labels.length) * n).fill(0);
    const set = (row: number, values: number[]) => {
      for (const [k, v] of values.entries()) out[k * n + row] = v;
    };
    set(0, [20, 30, 10, 10, 0.1, 0.7]); // a blob
    set(1, [40, 30, 10, 10, 0.6, 0.2]); // spaghetti
    const det = onnxDetector({
      modelPath: buildModel(64, [1, 4 + labels.length, n], new Array(out.length).fill(0), out),
      labels,
    });
    const res = await det.detect({
      jpeg: await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } })
        .jpeg()
        .toBuffer(),
    });
    expect(res.detections.map((d) => [d.label, Math.round(d.confidence * 10) / 10])).toEqual([
      ['blob', 0.7],
      ['spaghetti', 0.6],
    ]);
    res.detections[0]!.box.forEach((v, i) => {
      expect(v).toBeCloseTo([15, 25, 10, 10][i]!, 4);
    });
  });

  it('says clearly why it is unavailable: no runtime, no file, not a model', async () => {
    const model = buildModel(64, [1, 8, 6], a, b);
    const noRuntime = onnxDetector(
      { modelPath: model },
      failingLoader(() => import('onnxruntime-node-not-installed' as string)),
    );
    expect(await noRuntime.problem()).toMatch(/onnxruntime-node is not installed \(optional dependency/);
    await expect(noRuntime.detect({ jpeg: await picture(1, 2, 3) })).rejects.toThrow(
      /onnxruntime-node is not installed/,
    );

    expect(await onnxDetector({ modelPath: path.join(dir, 'missing.onnx') }).problem()).toMatch(
      /cannot be read: ENOENT/,
    );
    const junk = path.join(dir, 'junk.onnx');
    fs.writeFileSync(junk, 'not a model');
    expect(await onnxDetector({ modelPath: junk }).problem()).toMatch(/cannot be loaded/);
  });

  it('decodes against a hand-made tensor and refuses shapes it does not know', () => {
    const letterbox = { scale: 1, padX: 0, padY: 0, width: 100, height: 100 };
    const dets = decodeYolo(
      new Float32Array([50, 50, 20, 20, 0.9, 1, 52, 50, 20, 20, 0.8, 1, 10, 10, 4, 4, 0.05, 1]),
      [1, 3, 6],
      {
        labels: ['failure'],
        format: 'yolov5',
        scoreThreshold: 0.08,
        iouThreshold: 0.45,
        letterbox,
      },
    );
    expect(dets).toEqual([{ label: 'failure', confidence: expect.closeTo(0.9, 5), box: [40, 40, 20, 20] }]);
    expect(() =>
      decodeYolo(new Float32Array(6), [6], {
        labels: ['x'],
        format: 'auto',
        scoreThreshold: 0.1,
        iouThreshold: 0.5,
        letterbox,
      }),
    ).toThrow(/shape/);
    expect(nms([], 0.5)).toEqual([]);
  });
});
