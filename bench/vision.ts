/**
 * AI monitoring evaluation: `npm run bench -- vision [--seqs 40] [--printers 4] [--seconds 30]`.
 *
 * 1. Decision quality on a labelled replay set of per-frame scores (one frame = 10 s, the rule's
 *    tuning): clean prints with noise and one-frame flashes, clean prints with a bright
 *    background object the detector keeps boxing, dense first layers, slow spaghetti, sudden
 *    detachment, and a failure right after a (user) pause/resume. For our rule and for plain
 *    per-frame thresholds: false pauses on clean prints, failures paused, time from onset to pause.
 *    Goal: no pause on any clean sequence, every failure paused within 2 minutes of onset.
 * 2. Pipeline throughput on this machine with the local detectors: frames per second for
 *    normalise → detect → score → rule on 1280×720 camera pictures (stand-in; and a tiny ONNX
 *    model at 640×640 input, which times the letterbox and the runtime's overhead, not a real
 *    network).
 * 3. Server CPU per watched printer at one frame per 10 s (`--seconds 0` skips it): the real server in its own process
 *    watching Moonraker simulators (their webcams drawn in this process), CPU from /proc with the
 *    AI on minus the same window with it off, per analysed frame, scaled to 0.1 frame/s.
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderPrintScene } from '../packages/simulators/src/camera/print-scene.ts';
import { MoonrakerSimulator } from '../packages/simulators/src/moonraker/index.ts';
import { standinDetections } from '../packages/server/src/vision/detectors/standin.ts';
import { defaultFrameLimits, normaliseImage } from '../packages/server/src/vision/frame-store.ts';
import {
  type RuleState,
  defaultRuleParams,
  frameScore,
  initialRuleState,
  resumePrint,
  startPrint,
  stepRule,
} from '../packages/server/src/vision/rule.ts';
import { procSample } from './_proc.ts';
import { api, arg } from './_cli.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const FRAME_S = 10;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind =
  | 'clean-noise'
  | 'clean-bright-background'
  | 'clean-dense-first-layers'
  | 'slow-spaghetti'
  | 'sudden-detachment'
  | 'failure-after-resume';
interface Sequence {
  kind: Kind;
  /** Per-frame score, or null while the print is paused by the user (no frames scored). */
  p: Array<number | null>;
  /** Frame index where the failure starts; null for clean prints. */
  onset: number | null;
  /** Frame index of the resume, when the sequence has a user pause. */
  resumeAt: number | null;
}

/** The labelled set: deterministic, `perKind` sequences of each kind, 1–2 hour prints. */
export function replaySet(perKind: number): Sequence[] {
  const out: Sequence[] = [];
  const r = rng(2026);
  const noise = () => Math.max(0, (r() - 0.5) * 0.12 + (r() < 0.3 ? r() * 0.15 : 0));
  const flash = (p: number) => (r() < 0.015 ? 0.5 + r() * 0.9 : p); // a hand, a flash, a reflection
  for (let i = 0; i < perKind; i++) {
    const len = 360 + Math.floor(r() * 360);
    out.push({
      kind: 'clean-noise',
      p: Array.from({ length: len }, () => flash(noise())),
      onset: null,
      resumeAt: null,
    });
    const bg = 0.35 + r() * 0.3; // the end-stop or a cable boxed on every frame
    out.push({
      kind: 'clean-bright-background',
      p: Array.from({ length: len }, () => flash(bg + noise())),
      onset: null,
      resumeAt: null,
    });
    const dense = 20 + Math.floor(r() * 25);
    out.push({
      kind: 'clean-dense-first-layers',
      p: Array.from({ length: len }, (_, f) => (f < dense ? 0.5 + r() * 0.6 : flash(noise()))),
      onset: null,
      resumeAt: null,
    });
    const onset = 60 + Math.floor(r() * 200);
    const ramp = 12 + Math.floor(r() * 12); // 2–4 minutes from the first strands to a mess
    out.push({
      kind: 'slow-spaghetti',
      p: Array.from({ length: len }, (_, f) =>
        f < onset ? flash(noise()) : Math.min(2.2, 0.25 + (1.9 * (f - onset)) / ramp) * (0.8 + r() * 0.4),
      ),
      onset,
      resumeAt: null,
    });
    const level = 1.1 + r() * 1.4;
    out.push({
      kind: 'sudden-detachment',
      p: Array.from({ length: len }, (_, f) => (f < onset ? flash(noise()) : level * (0.8 + r() * 0.4))),
      onset,
      resumeAt: null,
    });
    // A user pause (filament change) of 5 minutes, then the print fails a few frames after resuming.
    const pauseAt = 80 + Math.floor(r() * 100);
    const resumeAt = pauseAt + 30;
    const fail = resumeAt + 1 + Math.floor(r() * 4);
    const lvl = 1.1 + r() * 1.2;
    out.push({
      kind: 'failure-after-resume',
      p: Array.from({ length: len }, (_, f) =>
        f >= pauseAt && f < resumeAt ? null : f < fail ? flash(noise()) : lvl * (0.8 + r() * 0.4),
      ),
      onset: fail,
      resumeAt,
    });
  }
  return out;
}

type Policy = { name: string; run(seq: Sequence): number | null };

/** Our rule (defaults, sensitivity 1): returns the frame index of the (first) pause, or null. */
export const ourRule = (
  lifetime: RuleState,
  params?: Partial<import('../packages/server/src/vision/rule.ts').RuleParams>,
  name = 'temporal rule (ours, defaults)',
): Policy => ({
  name,
  run(seq) {
    let s = startPrint(lifetime, 'bench');
    for (let f = 0; f < seq.p.length; f++) {
      const p = seq.p[f];
      if (p === null) continue;
      if (seq.resumeAt === f) s = resumePrint(s, f * FRAME_S * 1000);
      const r = stepRule(s, p, {
        now: f * FRAME_S * 1000,
        sensitivity: 1,
        action: 'pause',
        params: params ? { ...defaultRuleParams, ...params } : undefined,
      });
      s = r.state;
      if (r.verdict === 'pause') return f;
    }
    return null;
  },
});

const plain = (threshold: number): Policy => ({
  name: `per-frame threshold p ≥ ${threshold}`,
  run(seq) {
    const f = seq.p.findIndex((p) => p !== null && p >= threshold);
    return f < 0 ? null : f;
  },
});

function evaluate(policies: Policy[], seqs: Sequence[]): void {
  // A printer with a history: its scene baseline learnt from earlier clean prints.
  console.log('\n1. decisions on the labelled replay set (frame = 10 s)');
  console.log(
    `   ${seqs.length} sequences: ${[...new Set(seqs.map((s) => s.kind))].map((k) => `${seqs.filter((s) => s.kind === k).length} ${k}`).join(', ')}`,
  );
  for (const policy of policies) {
    const clean = seqs.filter((s) => s.onset === null);
    const fails = seqs.filter((s) => s.onset !== null);
    const falseClean = clean.filter((s) => policy.run(s) !== null);
    const early = fails.filter((s) => {
      const at = policy.run(s);
      return at !== null && at < s.onset!;
    });
    const delays = fails
      .map((s) => ({ s, at: policy.run(s) }))
      .filter(({ s, at }) => at !== null && at >= s.onset!)
      .map(({ s, at }) => (at! - s.onset!) * FRAME_S);
    const missed = fails.length - delays.length - early.length;
    delays.sort((a, b) => a - b);
    const within2 = delays.filter((d) => d <= 120).length;
    const byKind = [...new Set(fails.map((s) => s.kind))]
      .map((k) => {
        const d = fails
          .filter((s) => s.kind === k)
          .map((s) => ({ s, at: policy.run(s) }))
          .filter(({ s, at }) => at !== null && at >= s.onset!)
          .map(({ s, at }) => (at! - s.onset!) * FRAME_S);
        const n = fails.filter((s) => s.kind === k).length;
        return `${k}: ${d.length}/${n} paused, max ${d.length ? Math.max(...d) : '–'} s`;
      })
      .join('; ');
    console.log(`   ${policy.name}:`);
    console.log(
      `     false pauses on clean prints: ${falseClean.length}/${clean.length}` +
        (falseClean.length ? ` (${[...new Set(falseClean.map((s) => s.kind))].join(', ')})` : '') +
        `; paused before the failure began: ${early.length}`,
    );
    console.log(
      `     failures paused: ${delays.length}/${fails.length} (missed ${missed}); within 2 min of onset: ${within2}/${fails.length}; ` +
        `onset→pause median ${delays.length ? delays[Math.floor(delays.length / 2)] : '–'} s, max ${delays.length ? delays.at(-1) : '–'} s`,
    );
    console.log(`     ${byKind}`);
  }
}

async function throughput(): Promise<void> {
  console.log('\n2. pipeline throughput on this machine (one core, sequential)');
  const frames = await Promise.all(
    [0, 0.3, 0.7].map((sp, i) =>
      renderPrintScene({ state: 'printing', progress: 30 + i * 20, spaghetti: sp, seed: i }),
    ),
  );
  let s = startPrint(initialRuleState(), 'bench');
  const n = 60;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const { jpeg, width, height } = await normaliseImage(frames[i % frames.length]!, defaultFrameLimits);
    const { detections } = await standinDetections(jpeg);
    const p = frameScore(detections, { confidenceThreshold: 0.2, width, height });
    s = stepRule(s, p, { now: i * 10_000, sensitivity: 1, action: 'pause' }).state;
  }
  const sec = (performance.now() - t0) / 1000;
  console.log(
    `   stand-in detector, 1280×720 JPEG: ${(n / sec).toFixed(1)} frames/s (${((sec / n) * 1000).toFixed(1)} ms a frame)`,
  );
  try {
    const { onnxDetector } = await import('../packages/server/src/vision/detectors/onnx.ts');
    const model = await tinyOnnxModel();
    if (!model) throw new Error('onnx-proto is not installed (dev dependency)');
    const det = onnxDetector({ modelPath: model });
    const problem = await det.problem();
    if (problem) throw new Error(problem);
    await det.detect({ jpeg: frames[0]! });
    const t1 = performance.now();
    for (let i = 0; i < n; i++) await det.detect({ jpeg: frames[i % frames.length]! });
    const sec1 = (performance.now() - t1) / 1000;
    console.log(
      `   ONNX detector (tiny model, 640×640 input: letterbox + runtime overhead): ${(n / sec1).toFixed(1)} frames/s`,
    );
    fs.rmSync(model, { force: true });
  } catch (err) {
    console.log(`   ONNX detector: not measured (${(err as Error).message.split('\n')[0]})`);
  }
}

/** A 640×640-input model that outputs a fixed YOLOv5 tensor, built with onnx-proto. */
async function tinyOnnxModel(): Promise<string | null> {
  let onnx: typeof import('onnx-proto').onnx;
  try {
    const m = (await import('onnx-proto')) as { onnx?: typeof onnx; default?: { onnx: typeof onnx } };
    onnx = m.onnx ?? m.default!.onnx;
  } catch {
    return null;
  }
  const F = onnx.TensorProto.DataType.FLOAT;
  const dims = (d: number[]) => onnx.TensorShapeProto.create({ dim: d.map((v) => ({ dimValue: v })) });
  const info = (name: string, d: number[]) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: F, shape: dims(d) } } });
  const rows = 100;
  const graph = onnx.GraphProto.create({
    name: 'bench',
    input: [info('images', [1, 3, 640, 640])],
    output: [info('out', [1, rows, 6])],
    initializer: [
      onnx.TensorProto.create({
        name: 'B',
        dims: [1, rows, 6],
        dataType: F,
        floatData: Array.from({ length: rows * 6 }, (_, i) => (i % 6 === 4 ? 0.01 : 20)),
      }),
    ],
    node: [
      onnx.NodeProto.create({
        opType: 'ReduceMean',
        input: ['images'],
        output: ['m'],
        attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }],
      }),
      onnx.NodeProto.create({ opType: 'Add', input: ['B', 'm'], output: ['out'] }),
    ],
  });
  const file = path.join(os.tmpdir(), `rwc-bench-${process.pid}.onnx`);
  fs.writeFileSync(
    file,
    onnx.ModelProto.encode(
      onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph }),
    ).finish(),
  );
  return file;
}

async function serverCpu(printers: number, seconds: number): Promise<void> {
  console.log(`\n3. server CPU per watched printer (${printers} Moonraker simulators printing, ${seconds} s windows)`);
  const sims = Array.from({ length: printers }, () => new MoonrakerSimulator({ timeScale: 1, printSeconds: 3600 }));
  await Promise.all(sims.map((s) => s.start()));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-bench-vision-'));
  const server = fork(path.join(here, '_fleet-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_DATA_DIR: dataDir },
  });
  const url = await new Promise<string>((resolve, reject) => {
    server.once('message', (m: any) => resolve(m.url));
    server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  try {
    await api(url, 'POST', '/api/v1/setup', { username: 'bench', password: 'bench-password' });
    const { accessToken: t } = await api(url, 'POST', '/api/v1/auth/login', {
      username: 'bench',
      password: 'bench-password',
    });
    const ids: string[] = [];
    for (const [i, sim] of sims.entries())
      ids.push(
        (
          await api(
            url,
            'POST',
            '/api/v1/printers',
            { name: `K${i}`, driver: 'moonraker', connection: { url: sim.url } },
            t,
          )
        ).id,
      );
    for (const sim of sims) {
      const form = new FormData();
      form.append('file', new Blob(['G28\n']), 'part.gcode');
      form.append('print', 'true');
      await fetch(`${sim.url}/server/files/upload`, { method: 'POST', body: form });
    }
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const states = await Promise.all(
        ids.map(async (id) => (await api(url, 'GET', `/api/v1/printers/${id}`, undefined, t)).state.status),
      );
      if (states.every((s) => s === 'printing')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const window = async () => {
      const a = procSample(server.pid!);
      await new Promise((r) => setTimeout(r, seconds * 1000));
      return procSample(server.pid!).cpuSeconds - a.cpuSeconds;
    };
    const idleCpu = await window();
    const count = async () => {
      let n = 0;
      for (const id of ids)
        n += (await api(url, 'GET', `/api/v1/ai/analysis?printerId=${id}&limit=1000`, undefined, t)).items.length;
      return n;
    };
    for (const id of ids)
      await api(
        url,
        'PUT',
        `/api/v1/ai/printers/${id}/settings`,
        { enabled: true, detector: 'standin', intervalSeconds: 2 },
        t,
      );
    const before = await count();
    const aiCpu = await window();
    const frames = (await count()) - before;
    const perFrame = Math.max(0, aiCpu - idleCpu) / Math.max(1, frames);
    console.log(
      `   without AI: ${((idleCpu / seconds) * 100).toFixed(1)} % of a core; with AI at 1 frame / 2 s: ${((aiCpu / seconds) * 100).toFixed(1)} % (${frames} frames analysed)`,
    );
    console.log(
      `   ${(perFrame * 1000).toFixed(1)} ms CPU per analysed frame → at 1 frame / 10 s: ${((perFrame / 10) * 100).toFixed(2)} % of a core per watched printer (≈ ${Math.floor(10 / perFrame)} printers per core)`,
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await Promise.all(sims.map((s) => s.stop()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A printer that has watched ~20 h of clean prints before: its scene baseline is learnt. */
export function seasonedPrinter(): RuleState {
  let lifetime = startPrint(initialRuleState(), 'history');
  const r = rng(7);
  for (let f = 0; f < 7200; f++)
    lifetime = stepRule(lifetime, Math.max(0, (r() - 0.5) * 0.12), {
      now: f * 10_000,
      sensitivity: 1,
      action: 'pause',
    }).state;
  return lifetime;
}

export async function run(args: string[]): Promise<void> {
  const perKind = arg(args, 'seqs', 40);
  const seqs = replaySet(perKind);
  const lifetime = seasonedPrinter();
  console.log('vision bench');
  evaluate(
    [
      ourRule(lifetime),
      ourRule(
        lifetime,
        { pauseFactor: 1.75, pauseFrames: 1 },
        "temporal rule with Obico's pause test (×1.75, one frame)",
      ),
      plain(0.8),
      plain(1.2),
    ],
    seqs,
  );
  await throughput();
  if (arg(args, 'seconds', 30) > 0) await serverCpu(arg(args, 'printers', 4), arg(args, 'seconds', 30));
}
