/**
 * Heaters modelled like OctoPrint's virtual printer: toward the target at ~10 °C/s (slower within
 * 0.5 °C), back to ambient at ~2 °C/s without a target. Simulated seconds = real seconds / timeScale.
 */
export const AMBIENT = 21.3;

export class Heater {
  actual = AMBIENT;
  target = 0;

  step(simSeconds: number): void {
    if (!Number.isFinite(simSeconds)) {
      this.actual = this.target > 0 ? this.target : AMBIENT;
      return;
    }
    const goal = this.target > 0 ? this.target : AMBIENT;
    const rate = this.target > 0 ? 10 : 2;
    const diff = goal - this.actual;
    const stepSize = Math.abs(diff) < 0.5 ? Math.min(Math.abs(diff), 0.1 * simSeconds) : rate * simSeconds;
    this.actual += Math.sign(diff) * Math.min(Math.abs(diff), stepSize);
  }

  reached(): boolean {
    return Math.abs(this.actual - this.target) <= 1;
  }
}

export class HeaterBank {
  readonly tools: Heater[];
  readonly bed = new Heater();
  #last = performance.now();
  currentTool = 0;

  constructor(
    extruders: number,
    private readonly timeScale: number,
  ) {
    this.tools = Array.from({ length: Math.max(1, extruders) }, () => new Heater());
  }

  update(): void {
    const now = performance.now();
    const realSeconds = (now - this.#last) / 1000;
    this.#last = now;
    const simSeconds = this.timeScale > 0 ? realSeconds / this.timeScale : Number.POSITIVE_INFINITY;
    for (const h of [...this.tools, this.bed]) h.step(simSeconds);
  }

  /** Marlin's report: `T:a /t B:a /t @:0 B@:0`, with T0..Tn after T for more than one tool. */
  report(): string {
    this.update();
    const f = (h: Heater) => `${h.actual.toFixed(2)} /${h.target.toFixed(2)}`;
    const parts = [`T:${f(this.tools[this.currentTool])}`, `B:${f(this.bed)}`];
    if (this.tools.length > 1) for (const [i, h] of this.tools.entries()) parts.push(`T${i}:${f(h)}`);
    parts.push('@:0', 'B@:0');
    return parts.join(' ');
  }
}
