/**
 * The printer objects a Klipper host exposes through Moonraker, and the print state machine:
 * print_stats.state standby → printing ⇄ paused → complete | cancelled | error; webhooks.state
 * ready | startup | shutdown | error. Changes are collected as deltas for notify_status_update.
 */
export type Objects = Record<string, Record<string, unknown>>;

export class Klippy {
  objects: Objects = {
    webhooks: { state: 'ready', state_message: 'Printer is ready' },
    print_stats: {
      filename: '',
      total_duration: 0,
      print_duration: 0,
      filament_used: 0,
      state: 'standby',
      message: '',
      info: { total_layer: null, current_layer: null },
    },
    virtual_sdcard: { file_path: null, progress: 0, is_active: false, file_position: 0, file_size: 0 },
    display_status: { progress: 0, message: null },
    extruder: { temperature: 21.3, target: 0, power: 0 },
    heater_bed: { temperature: 21.3, target: 0, power: 0 },
    toolhead: { position: [0, 0, 0, 0], status: 'Ready' },
    fan: { speed: 0, rpm: null },
  };
  #delta: Objects = {};
  #elapsed = 0;

  constructor(
    private readonly printSeconds: number,
    private readonly layers = 10,
    /** print_stats.state of a finished print: `complete`, or `completed` as Anycubic's Klipper reports it. */
    private readonly completeState = 'complete',
  ) {}

  get state(): string {
    return this.objects.webhooks.state as string;
  }

  get printState(): string {
    return this.objects.print_stats.state as string;
  }

  set(object: string, patch: Record<string, unknown>): void {
    const current = this.objects[object];
    for (const [k, v] of Object.entries(patch)) {
      if (JSON.stringify(current[k]) === JSON.stringify(v)) continue;
      current[k] = v;
      this.#delta[object] = { ...this.#delta[object], [k]: v };
    }
  }

  takeDelta(): Objects {
    const d = this.#delta;
    this.#delta = {};
    return d;
  }

  startPrint(path: string, size: number): void {
    this.#elapsed = 0;
    this.set('print_stats', {
      filename: path,
      state: 'printing',
      message: '',
      print_duration: 0,
      total_duration: 0,
      info: { total_layer: this.layers, current_layer: 0 },
    });
    this.set('virtual_sdcard', { file_path: `/gcodes/${path}`, is_active: true, progress: 0, file_size: size, file_position: 0 });
    this.set('display_status', { progress: 0 });
    this.set('extruder', { target: 210 });
    this.set('heater_bed', { target: 60 });
  }

  pause(): void {
    this.set('print_stats', { state: 'paused' });
    this.set('virtual_sdcard', { is_active: false });
  }

  resume(): void {
    this.set('print_stats', { state: 'printing' });
    this.set('virtual_sdcard', { is_active: true });
  }

  endPrint(state: 'complete' | 'cancelled' | 'error', message = ''): void {
    this.set('print_stats', { state: state === 'complete' ? this.completeState : state, message });
    this.set('virtual_sdcard', { is_active: false });
    this.set('extruder', { target: 0 });
    this.set('heater_bed', { target: 0 });
  }

  shutdown(message: string): void {
    this.set('webhooks', { state: 'shutdown', state_message: message });
    if (this.printState === 'printing' || this.printState === 'paused') this.endPrint('error', message);
  }

  restart(): void {
    this.set('webhooks', { state: 'ready', state_message: 'Printer is ready' });
    this.resetFile();
  }

  resetFile(): void {
    this.set('print_stats', { state: 'standby', filename: '', message: '', print_duration: 0, total_duration: 0 });
    this.set('virtual_sdcard', { file_path: null, progress: 0, file_position: 0, file_size: 0 });
    this.set('display_status', { progress: 0 });
  }

  /** Advances simulated time by `seconds`. */
  tick(seconds: number): void {
    for (const [name, heater] of [['extruder', this.objects.extruder] as const, ['heater_bed', this.objects.heater_bed] as const]) {
      const target = heater.target as number;
      const actual = heater.temperature as number;
      const goal = target > 0 ? target : 21.3;
      const step = (target > 0 ? 10 : 2) * seconds;
      const next = Math.abs(goal - actual) <= step ? goal : actual + Math.sign(goal - actual) * step;
      this.set(name, { temperature: Math.round(next * 100) / 100, power: target > 0 && next < target ? 1 : 0 });
    }
    if (this.printState !== 'printing' || this.state !== 'ready') return;
    this.#elapsed += seconds;
    const progress = Math.min(1, this.#elapsed / this.printSeconds);
    const size = this.objects.virtual_sdcard.file_size as number;
    this.set('print_stats', {
      print_duration: this.#elapsed,
      total_duration: this.#elapsed,
      info: { total_layer: this.layers, current_layer: Math.min(this.layers, Math.floor(progress * this.layers) + 1) },
    });
    this.set('virtual_sdcard', { progress, file_position: Math.round(progress * size) });
    this.set('display_status', { progress });
    if (progress >= 1) this.endPrint('complete');
  }
}
