/**
 * A believable camera picture of a print in progress, for the simulated printers' cameras: a dark
 * chamber, a bright end-stop and cable in the background (the kind of thing that fools detectors),
 * the bed in perspective, the part growing layer by layer with progress, the toolhead above it, and,
 * once a fault is injected, "spaghetti": strands of loose filament that multiply as the failure
 * goes on. Drawn as SVG and encoded to JPEG by sharp (libvips + librsvg), no fonts needed.
 */
import { loadSharp } from '@rwc/server/util/sharp-lazy.ts';

export type SceneState = 'idle' | 'preparing' | 'printing' | 'paused' | 'finished' | 'failed';

export interface SceneInput {
  state: SceneState;
  /** 0–100. */
  progress: number;
  /** 0 = no failure; grows towards 1 as spaghetti piles up (0.2 is clearly visible). */
  spaghetti: number;
  /** Filament colour, e.g. '#00ae42'. */
  filament?: string;
  /** Fixes the random strands and the part's shape for one printer. */
  seed?: number;
  width?: number;
  height?: number;
}

function rng(seed: number): () => number {
  let a = seed >>> 0 || 1;
  return () => {
    // mulberry32: small, fast and good enough for strand shapes.
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shade(hex: string, f: number): string {
  const n = Number.parseInt(hex.replace('#', ''), 16);
  const c = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => Math.max(0, Math.min(255, Math.round(v * f))));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The SVG of the scene (exported for tests that want to look at the drawing itself). */
export function printSceneSvg(input: SceneInput): string {
  const W = input.width ?? 1280;
  const H = input.height ?? 720;
  const fil = input.filament ?? '#00ae42';
  const rand = rng(input.seed ?? 7);
  const progress = Math.max(0, Math.min(100, input.progress));
  const parts: string[] = [];
  parts.push(
    `<defs><linearGradient id="wall" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#2b3038"/><stop offset="1" stop-color="#14171b"/></linearGradient>`,
    `<linearGradient id="bed" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#4a4a48"/><stop offset="1" stop-color="#2e2e2d"/></linearGradient></defs>`,
    `<rect width="${W}" height="${H}" fill="url(#wall)"/>`,
  );
  // Back-wall panel seams and the bright background objects (end-stop switch, white cable).
  for (let x = 80; x < W; x += 160)
    parts.push(`<line x1="${x}" y1="0" x2="${x}" y2="${H * 0.55}" stroke="#343a43" stroke-width="2"/>`);
  parts.push(`<rect x="${W * 0.08}" y="${H * 0.12}" width="${W * 0.035}" height="${H * 0.07}" rx="4" fill="#e8e8e2"/>`);
  parts.push(
    `<path d="M ${W * 0.9} 0 C ${W * 0.86} ${H * 0.2}, ${W * 0.95} ${H * 0.3}, ${W * 0.88} ${H * 0.5}" stroke="#d9d9d4" stroke-width="10" fill="none"/>`,
  );
  // Bed in perspective.
  const bedTop = H * 0.62;
  const bedBottom = H * 0.9;
  parts.push(
    `<polygon points="${W * 0.22},${bedTop} ${W * 0.78},${bedTop} ${W * 0.9},${bedBottom} ${W * 0.1},${bedBottom}" fill="url(#bed)" stroke="#5c5c58" stroke-width="3"/>`,
  );
  // The part: a box whose height grows with progress, with visible layer lines.
  const cx = W * 0.5;
  const baseY = H * 0.76;
  const partW = W * 0.16;
  const maxH = H * 0.34;
  const partH = (progress / 100) * maxH;
  const showPart = input.state !== 'idle' && input.state !== 'preparing';
  if (showPart && partH > 1) {
    const top = baseY - partH;
    parts.push(
      `<rect x="${cx - partW / 2}" y="${top}" width="${partW}" height="${partH}" fill="${shade(fil, 0.85)}"/>`,
    );
    for (let y = baseY - 4; y > top; y -= 6) {
      parts.push(
        `<line x1="${cx - partW / 2}" y1="${y}" x2="${cx + partW / 2}" y2="${y}" stroke="${shade(fil, 0.7)}" stroke-width="1.5"/>`,
      );
    }
    const d = partW * 0.18;
    parts.push(
      `<polygon points="${cx - partW / 2},${top} ${cx + partW / 2},${top} ${cx + partW / 2 + d},${top - d * 0.5} ${cx - partW / 2 + d},${top - d * 0.5}" fill="${shade(fil, 1.1)}"/>`,
      `<polygon points="${cx + partW / 2},${top} ${cx + partW / 2 + d},${top - d * 0.5} ${cx + partW / 2 + d},${baseY - d * 0.5} ${cx + partW / 2},${baseY}" fill="${shade(fil, 0.6)}"/>`,
    );
  }
  // Spaghetti: loose strands around and above the part, more of them as the failure goes on.
  const strands = Math.round(Math.max(0, Math.min(1, input.spaghetti)) * 70);
  const partTop = baseY - partH;
  for (let i = 0; i < strands; i++) {
    let x = cx + (rand() - 0.5) * partW * 1.6;
    let y = partTop - rand() * H * 0.08;
    let d = `M ${x.toFixed(1)} ${y.toFixed(1)}`;
    const segs = 3 + Math.floor(rand() * 4);
    for (let s = 0; s < segs; s++) {
      const nx = x + (rand() - 0.5) * W * 0.16;
      const ny = Math.min(baseY + 10, y + (rand() - 0.3) * H * 0.12);
      d += ` Q ${(x + (rand() - 0.5) * W * 0.12).toFixed(1)} ${(y + (rand() - 0.5) * H * 0.14).toFixed(1)} ${nx.toFixed(1)} ${ny.toFixed(1)}`;
      x = nx;
      y = ny;
    }
    parts.push(
      `<path d="${d}" stroke="${shade(fil, 0.8 + rand() * 0.4)}" stroke-width="${(2 + rand() * 2.5).toFixed(1)}" fill="none" stroke-linecap="round"/>`,
    );
  }
  // Toolhead: over the part while printing, parked at the side otherwise.
  const printing = input.state === 'printing' || input.state === 'paused';
  const headX = printing ? cx - W * 0.05 + (((progress * 37) % 100) / 100) * W * 0.1 : W * 0.82;
  const headY = printing ? Math.min(partTop, baseY) - H * 0.16 : H * 0.18;
  parts.push(
    `<rect x="${W * 0.05}" y="${headY + H * 0.03}" width="${W * 0.9}" height="${H * 0.025}" fill="#3d4249"/>`,
    `<rect x="${headX - W * 0.045}" y="${headY - H * 0.02}" width="${W * 0.09}" height="${H * 0.13}" rx="8" fill="#5b6068"/>`,
    `<polygon points="${headX - 8},${headY + H * 0.11} ${headX + 8},${headY + H * 0.11} ${headX},${headY + H * 0.14}" fill="#b08d57"/>`,
  );
  // Chamber light: warm when paused, red when failed; low saturation so it is not filament.
  const light = input.state === 'paused' ? '#b9a98a' : input.state === 'failed' ? '#b89090' : '#a9adb3';
  parts.push(`<rect x="0" y="0" width="${W}" height="${H * 0.02}" fill="${light}"/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${parts.join('')}</svg>`;
}

/** Renders the scene as a JPEG (about 20–60 ms at 1280×720 on one core). */
export async function renderPrintScene(input: SceneInput): Promise<Buffer> {
  return (await loadSharp())(Buffer.from(printSceneSvg(input)))
    .jpeg({ quality: 80 })
    .toBuffer();
}

/**
 * Keeps the latest rendered frame of a printer's camera. Rendering is asynchronous, so a camera
 * server answers with the last finished picture while the next one is drawn.
 */
export class SceneCamera {
  #key = '';
  #jpeg: Buffer | null = null;
  #rendering: Promise<void> | null = null;
  #pending: SceneInput | null = null;
  readonly #fallback: () => Buffer;

  constructor(fallback: () => Buffer) {
    this.#fallback = fallback;
  }

  /** The latest picture; asks for a new one when the scene changed. */
  frame(input: SceneInput): Buffer {
    this.update(input);
    return this.#jpeg ?? this.#fallback();
  }

  /** Renders `input` unless it is what the latest picture shows; resolves when it is drawn. */
  update(input: SceneInput): Promise<void> {
    const key = JSON.stringify({
      ...input,
      progress: Math.floor(input.progress),
      spaghetti: Math.round(input.spaghetti * 50) / 50,
    });
    if (key === this.#key) return this.#rendering ?? Promise.resolve();
    this.#key = key;
    this.#pending = input;
    this.#rendering ??= (async () => {
      while (this.#pending) {
        const next = this.#pending;
        this.#pending = null;
        try {
          this.#jpeg = await renderPrintScene(next);
        } catch {
          // keep the previous picture
        }
      }
      this.#rendering = null;
    })();
    return this.#rendering;
  }
}

/**
 * The "spaghetti" fault of a simulated print, in simulated seconds: it starts when injected and
 * piles up over `rampSeconds` (10 simulated minutes by default; a demo printer at 30× runs that in
 * 20 real seconds). A new print clears it.
 */
export class SpaghettiFault {
  #since: number | null = null;
  readonly rampSeconds: number;

  constructor(rampSeconds = 600) {
    this.rampSeconds = rampSeconds;
  }

  start(simNow: number): void {
    this.#since ??= simNow;
  }

  clear(): void {
    this.#since = null;
  }

  get active(): boolean {
    return this.#since !== null;
  }

  /** 0 without a fault; 0.15 (clearly visible) at onset, 1 after the ramp. */
  amount(simNow: number): number {
    if (this.#since === null) return 0;
    return Math.min(1, 0.15 + (0.85 * Math.max(0, simNow - this.#since)) / this.rampSeconds);
  }
}

/** A stable number for a string (picks a printer's strand shapes). */
export function seedOf(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
