import type { EventBus } from '../events/bus.ts';
import type { PrinterState, Temperature } from './model.ts';

/** The heaters the chart shows, in storage order. */
const SERIES = ['nozzle', 'bed', 'chamber'] as const;
type Series = (typeof SERIES)[number];
/** A missing reading (the printer has no such heater, or reported none in that slot). */
const NONE = -32768;

export interface TemperaturePoint {
  at: string;
  nozzle?: Temperature;
  bed?: Temperature;
  chamber?: Temperature;
}

/**
 * One printer's last hours in a fixed ring: one slot per interval holding the last reading in it,
 * as tenths of a degree in 16-bit integers (2,160 slots of 6 h at 10 s take 35 KB; 2,000 printers
 * 70 MB). Pure: the caller passes the time.
 */
export class TemperatureRing {
  readonly #slots: number;
  readonly #intervalMs: number;
  /** Slot number (time / interval) held in each ring position; -1 = empty. */
  readonly #slotOf: Float64Array;
  /** 6 values per position: nozzle actual/target, bed actual/target, chamber actual/target. */
  readonly #values: Int16Array;

  constructor(keepSeconds: number, intervalSeconds: number) {
    this.#intervalMs = intervalSeconds * 1000;
    this.#slots = Math.max(1, Math.ceil(keepSeconds / intervalSeconds));
    this.#slotOf = new Float64Array(this.#slots).fill(-1);
    this.#values = new Int16Array(this.#slots * SERIES.length * 2).fill(NONE);
  }

  /** Records a reading; a later reading in the same slot replaces the earlier one. */
  record(atMs: number, temps: PrinterState['temperatures']): void {
    const slot = Math.floor(atMs / this.#intervalMs);
    const pos = slot % this.#slots;
    this.#slotOf[pos] = slot;
    SERIES.forEach((name, i) => {
      const t = temps[name];
      const base = pos * SERIES.length * 2 + i * 2;
      this.#values[base] = t ? enc(t.actual) : NONE;
      this.#values[base + 1] = t ? enc(t.target) : NONE;
    });
  }

  /** Points from `sinceMs` (inclusive) up to `nowMs`, oldest first; slots older than the ring are gone. */
  points(nowMs: number, sinceMs = 0): TemperaturePoint[] {
    const nowSlot = Math.floor(nowMs / this.#intervalMs);
    const first = Math.max(nowSlot - this.#slots + 1, Math.floor(sinceMs / this.#intervalMs));
    const out: TemperaturePoint[] = [];
    for (let slot = first; slot <= nowSlot; slot++) {
      const pos = slot % this.#slots;
      if (this.#slotOf[pos] !== slot) continue;
      const p: TemperaturePoint = { at: new Date(slot * this.#intervalMs).toISOString() };
      SERIES.forEach((name: Series, i) => {
        const base = pos * SERIES.length * 2 + i * 2;
        const a = this.#values[base]!;
        if (a === NONE) return;
        const t = this.#values[base + 1]!;
        p[name] = { actual: a / 10, target: t === NONE ? 0 : t / 10 };
      });
      out.push(p);
    }
    return out;
  }
}

const enc = (v: number) => (Number.isFinite(v) ? Math.max(-32767, Math.min(32767, Math.round(v * 10))) : NONE);

/** Feeds every printer's ring from `printer.state` events (GET /printers/:id/temperatures). */
export class TemperatureHistory {
  readonly #rings = new Map<string, TemperatureRing>();
  readonly #owner = {};

  constructor(
    private readonly o: { bus: EventBus; now: () => number; keepSeconds?: number; intervalSeconds?: number },
  ) {}

  get intervalSeconds(): number {
    return this.o.intervalSeconds ?? 10;
  }

  get keepSeconds(): number {
    return this.o.keepSeconds ?? 6 * 3600;
  }

  start(): void {
    this.o.bus.on('printer.state', this.#owner, ({ printerId, state }) => {
      const temps = state.temperatures;
      if (!temps || (!temps.nozzle && !temps.bed && !temps.chamber)) return;
      let ring = this.#rings.get(printerId);
      if (!ring) this.#rings.set(printerId, (ring = new TemperatureRing(this.keepSeconds, this.intervalSeconds)));
      ring.record(this.o.now(), temps);
    });
    this.o.bus.on('printer.removed', this.#owner, ({ printerId }) => void this.#rings.delete(printerId));
  }

  stop(): void {
    this.o.bus.removeListeners(this.#owner);
  }

  points(printerId: string, sinceMs?: number): TemperaturePoint[] {
    return this.#rings.get(printerId)?.points(this.o.now(), sinceMs) ?? [];
  }
}
