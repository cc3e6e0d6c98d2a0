import { lineChecksum, splitLine } from './checksum.ts';
import { HeaterBank } from './heaters.ts';
import { Planner } from './planner.ts';
import type { SdCard } from './sd-card.ts';

export interface FirmwareOptions {
  advancedOk: boolean;
  /** Command buffer slots (Marlin BUFSIZE). */
  bufferSize: number;
  /** Serial RX buffer in bytes; bytes arriving while it is full are lost, like a real UART. */
  rxBufferSize: number;
  plannerSize: number;
  timeScale: number;
  extruders: number;
  sendWait: boolean;
  busyIntervalMs: number;
  autoreportTemp: boolean;
  /** AVR MarlinSerial: a rejected line (resend request) also drops whatever waits in the RX buffer. */
  flushRxOnResend?: boolean;
  sd: SdCard;
}

type Queued = { lineNumber: number | null; command: string };
type Result = { out?: string[]; okSuffix?: string };

const EMERGENCY = new Set(['M108', 'M112', 'M410']);

/**
 * One power-on of a virtual Marlin: line protocol (checksums, line numbers, resends), a command
 * buffer feeding a timed planner, heaters, autoreports, SD card, and fault injection hooks.
 * Modelled on OctoPrint's virtual printer (fixtures/octo/octoprint-virtual-printer-defaults.json).
 */
export class VirtualMarlin {
  readonly planner: Planner;
  readonly heaters: HeaterBank;
  readonly commandLog: string[] = [];
  stats = { linesAccepted: 0, resendsRequested: 0, bytesReceived: 0, bytesDropped: 0, oksSent: 0 };
  faults = { garbleNextLine: false, garbleNextOk: false, dropNextOk: 0, noiseRatio: 0, silent: false };
  dead = false;
  progress: { percent: number; remainingMinutes: number } | null = null;

  #rx = '';
  #queue: Queued[] = [];
  #running = false;
  #lastN = 0;
  #pos = { x: 0, y: 0, z: 0, e: 0 };
  #relative = false;
  #relativeE = false;
  #feed = 1500;
  #timers = new Set<NodeJS.Timeout>();
  #tempReport: NodeJS.Timeout | null = null;
  #sdReport: NodeJS.Timeout | null = null;
  #cancelHeatWait = false;
  #writingFile: string | null = null;

  constructor(
    private readonly opts: FirmwareOptions,
    private readonly emit: (line: string) => void,
  ) {
    this.planner = new Planner(opts.plannerSize, opts.timeScale);
    this.heaters = new HeaterBank(opts.extruders, opts.timeScale);
    opts.sd.attach((cmd) => this.#execute(cmd), (line) => this.#say(line), this.planner);
  }

  boot(): void {
    for (const line of ['start', 'Marlin 2.1.2 (RWC virtual)', '\x80', 'SD card ok']) this.emit(line);
  }

  /** Bytes that made it through the (throttled) wire into the RX buffer. */
  receive(data: string): void {
    if (this.dead) return;
    this.stats.bytesReceived += data.length;
    // The firmware drains the RX buffer into the command queue as bytes arrive, so only bytes that
    // arrive while the queue is full (and the RX buffer with it) are lost.
    let rest = data;
    while (rest.length) {
      const room = this.opts.rxBufferSize - this.#rx.length;
      if (room <= 0) break;
      this.#rx += rest.slice(0, room);
      rest = rest.slice(room);
      this.#parseLines();
    }
    this.stats.bytesDropped += rest.length;
  }

  /** Room left in the RX buffer: the wire pauses delivery rather than drop when told to. */
  get rxRoom(): number {
    return this.opts.rxBufferSize - this.#rx.length;
  }

  kill(lines: string[]): void {
    for (const l of lines) this.emit(l);
    this.shutdown();
    this.dead = true;
  }

  shutdown(): void {
    this.dead = true;
    this.planner.clear();
    this.#queue = [];
    this.opts.sd.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.#tempReport) clearInterval(this.#tempReport);
    if (this.#sdReport) clearInterval(this.#sdReport);
  }

  #say(line: string): void {
    if (!this.dead && !this.faults.silent) this.emit(line);
  }

  #ok(lineNumber: number | null, suffix?: string): void {
    if (this.faults.dropNextOk > 0) {
      this.faults.dropNextOk--;
      return;
    }
    let ok = 'ok';
    if (this.opts.advancedOk) {
      // Like Marlin, the command being acknowledged still occupies its slot: B tops out at BUFSIZE-1.
      const free = Math.max(0, this.opts.bufferSize - this.#queue.length - 1);
      ok += ` N${lineNumber ?? this.#lastN} P${this.planner.free} B${free}`;
    }
    if (suffix) ok += ` ${suffix}`;
    if (this.faults.garbleNextOk) {
      this.faults.garbleNextOk = false;
      ok = `o\x80${ok.slice(2)}`;
    }
    this.stats.oksSent++;
    this.#say(ok);
  }

  #requestResend(message: string): void {
    this.stats.resendsRequested++;
    if (this.opts.flushRxOnResend) {
      this.stats.bytesDropped += this.#rx.length;
      this.#rx = '';
    }
    this.#say(`Error:${message}, Last Line: ${this.#lastN}`);
    this.#say(`Resend: ${this.#lastN + 1}`);
    // ADVANCED_OK names the last accepted line here: the rejected one was not taken.
    this.#ok(this.#lastN);
  }

  #parseLines(): void {
    for (;;) {
      if (this.dead || this.#queue.length >= this.opts.bufferSize) return;
      const nl = this.#rx.search(/[\r\n]/);
      if (nl < 0) return;
      const raw = this.#rx.slice(0, nl);
      this.#rx = this.#rx.slice(nl + 1);
      this.#acceptLine(raw.trim());
    }
  }

  #acceptLine(rawLine: string): void {
    if (!rawLine || this.faults.silent) return;
    let line = rawLine;
    if (this.faults.garbleNextLine || (this.faults.noiseRatio > 0 && Math.random() < this.faults.noiseRatio)) {
      this.faults.garbleNextLine = false;
      line = line.replace(/\d(?=[^*]*\*)/, (d) => String((Number(d) + 1) % 10));
    }
    const parts = splitLine(line);
    const word = parts.command.split(/\s+/)[0].toUpperCase();
    if (EMERGENCY.has(word)) {
      this.#emergency(word);
      return;
    }
    if (parts.lineNumber !== null) {
      if (parts.checksum === null) {
        this.#requestResend('No Checksum with line number');
        return;
      }
      if (lineChecksum(parts.body) !== parts.checksum) {
        this.#requestResend('checksum mismatch');
        return;
      }
      if (word === 'M110') {
        const n = /N(\d+)/.exec(parts.command);
        this.#lastN = n ? Number(n[1]) : parts.lineNumber;
      } else if (parts.lineNumber !== this.#lastN + 1) {
        this.#requestResend('Line Number is not Last Line Number+1');
        return;
      } else this.#lastN = parts.lineNumber;
    } else if (parts.checksum !== null) {
      this.#say(`Error:No Line Number with checksum, Last Line: ${this.#lastN}`);
      return;
    }
    this.stats.linesAccepted++;
    this.#queue.push({ lineNumber: parts.lineNumber, command: parts.command });
    void this.#run();
  }

  #emergency(word: string): void {
    if (word === 'M112') this.kill(['echo:EMERGENCY SHUTDOWN DETECTED. KILLED.']);
    if (word === 'M108') this.#cancelHeatWait = true;
    if (word === 'M410') this.planner.clear();
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length && !this.dead) {
        const cmd = this.#queue.shift()!;
        this.#parseLines();
        const res = await this.#execute(cmd.command);
        if (this.dead) break;
        for (const l of res.out ?? []) this.#say(l);
        this.#ok(cmd.lineNumber, res.okSuffix);
        this.#parseLines();
      }
    } finally {
      this.#running = false;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      this.#timers.add(t);
    });
  }

  /** Marlin HOST_KEEPALIVE: `echo:busy: processing` while a blocking command runs. */
  async #busyWhile(work: Promise<void>): Promise<void> {
    let done = false;
    const keepalive = async () => {
      while (!done && !this.dead) {
        await this.#sleep(this.opts.busyIntervalMs);
        if (!done) this.#say('echo:busy: processing');
      }
    };
    void keepalive();
    await work;
    done = true;
  }

  async #waitForHeater(heater: { reached(): boolean }): Promise<void> {
    this.#cancelHeatWait = false;
    let lastReport = performance.now();
    while (!this.dead && !this.#cancelHeatWait) {
      this.heaters.update();
      if (heater.reached()) return;
      await this.#sleep(10);
      if (performance.now() - lastReport >= 1000) {
        lastReport = performance.now();
        this.#say(` ${this.heaters.report()}`);
      }
    }
  }

  #params(command: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const tok of command.split(/\s+/).slice(1)) {
      const v = Number(tok.slice(1));
      if (/^[A-Z]/i.test(tok) && Number.isFinite(v)) out[tok[0].toUpperCase()] = v;
    }
    return out;
  }

  async #execute(command: string): Promise<Result> {
    this.commandLog.push(command);
    if (this.commandLog.length > 20000) this.commandLog.splice(0, 10000);
    const word = command.split(/\s+/)[0].toUpperCase();
    // Like Marlin, write mode is decided when a command leaves the buffer: it goes to the file.
    if (this.#writingFile && word !== 'M29') {
      this.opts.sd.append(this.#writingFile, command);
      return {};
    }
    const p = this.#params(command);
    const text = command.slice(word.length).trim();
    switch (word) {
      case 'G0':
      case 'G1':
      case 'G2':
      case 'G3':
        return this.#move(p);
      case 'G28':
        await this.planner.drained();
        this.#pos = { ...this.#pos, x: 0, y: 0, z: 0 };
        return {};
      case 'G90':
      case 'G91':
        this.#relative = word === 'G91';
        this.#relativeE = this.#relative;
        return {};
      case 'M82':
      case 'M83':
        this.#relativeE = word === 'M83';
        return {};
      case 'G92':
        for (const k of ['x', 'y', 'z', 'e'] as const) if (p[k.toUpperCase()] !== undefined) this.#pos[k] = p[k.toUpperCase()];
        return {};
      case 'G4':
        await this.#busyWhile(
          this.planner.drained().then(() => this.#sleep(((p.P ?? 0) + (p.S ?? 0) * 1000) * this.opts.timeScale)),
        );
        return {};
      case 'M400':
        await this.#busyWhile(this.planner.drained());
        return {};
      case 'M104':
      case 'M109': {
        const h = this.heaters.tools[p.T ?? this.heaters.currentTool] ?? this.heaters.tools[0];
        h.target = p.S ?? p.R ?? 0;
        if (word === 'M109') await this.#busyWhile(this.#waitForHeater(h));
        return {};
      }
      case 'M140':
      case 'M190':
        this.heaters.bed.target = p.S ?? p.R ?? 0;
        if (word === 'M190') await this.#busyWhile(this.#waitForHeater(this.heaters.bed));
        return {};
      case 'M105':
        return { okSuffix: this.heaters.report() };
      case 'M114': {
        const { x, y, z, e } = this.#pos;
        return { out: [`X:${x.toFixed(2)} Y:${y.toFixed(2)} Z:${z.toFixed(2)} E:${e.toFixed(2)} Count: A:0 B:0 C:0`] };
      }
      case 'M115':
        return { out: this.#m115() };
      case 'M155':
        this.#autoreport('temp', p.S ?? 0, () => ` ${this.heaters.report()}`);
        return {};
      case 'M27':
        if (p.S !== undefined) this.#autoreport('sd', p.S, () => this.opts.sd.statusLine(), true);
        return p.S === undefined ? { out: [this.opts.sd.statusLine()] } : {};
      case 'M73':
        this.progress = { percent: p.P ?? 0, remainingMinutes: p.R ?? 0 };
        return {};
      case 'M110':
        return {};
      case 'M117':
        return { out: [`echo:${text}`] };
      case 'M118':
        return { out: [text.startsWith('A1') ? `//${text.slice(2).trim()}` : `echo:${text.replace(/^E1\s*/, '')}`] };
      case 'M28':
        this.#writingFile = text;
        this.opts.sd.create(text);
        return { out: [`Writing to file: ${text}`] };
      case 'M29':
        this.#writingFile = null;
        return { out: ['Done saving file.'] };
      case 'M20':
      case 'M21':
      case 'M22':
      case 'M23':
      case 'M24':
      case 'M25':
      case 'M26':
      case 'M30':
      case 'M524':
        return { out: this.opts.sd.command(word, text, p) };
      default:
        if (/^T\d+$/.test(word)) {
          this.heaters.currentTool = Math.min(Number(word.slice(1)), this.heaters.tools.length - 1);
          return {};
        }
        if (/^[GM]\d+$/.test(word)) return {};
        return { out: [`echo:Unknown command: "${command}"`] };
    }
  }

  async #move(p: Record<string, number>): Promise<Result> {
    if (p.F) this.#feed = p.F;
    const next = { ...this.#pos };
    for (const k of ['x', 'y', 'z'] as const) {
      const v = p[k.toUpperCase()];
      if (v !== undefined) next[k] = this.#relative ? next[k] + v : v;
    }
    if (p.E !== undefined) next.e = this.#relativeE ? next.e + p.E : p.E;
    const dist = Math.hypot(next.x - this.#pos.x, next.y - this.#pos.y, next.z - this.#pos.z) || Math.abs(next.e - this.#pos.e);
    this.#pos = next;
    await this.planner.add(dist, this.#feed);
    return {};
  }

  #m115(): string[] {
    const caps = {
      SERIAL_XON_XOFF: 0,
      EEPROM: 0,
      AUTOREPORT_TEMP: this.opts.autoreportTemp ? 1 : 0,
      PROGRESS: 0,
      PRINT_JOB: 1,
      BUILD_PERCENT: 1,
      EMERGENCY_PARSER: 1,
      HOST_ACTION_COMMANDS: 1,
      SDCARD: 1,
      AUTOREPORT_SD_STATUS: 1,
      THERMAL_PROTECTION: 1,
    };
    return [
      `FIRMWARE_NAME:Marlin 2.1.2 (RWC virtual) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:RWC Virtual EXTRUDER_COUNT:${this.heaters.tools.length} UUID:00000000-0000-4000-8000-000000000000`,
      ...Object.entries(caps).map(([k, v]) => `Cap:${k}:${v}`),
    ];
  }

  #autoreport(kind: 'temp' | 'sd', seconds: number, line: () => string, onlyWhilePrinting = false): void {
    const current = kind === 'temp' ? this.#tempReport : this.#sdReport;
    if (current) clearInterval(current);
    const timer =
      seconds > 0
        ? setInterval(() => {
            if (!onlyWhilePrinting || this.opts.sd.printing) this.#say(line());
          }, seconds * 1000)
        : null;
    timer?.unref();
    if (kind === 'temp') this.#tempReport = timer;
    else this.#sdReport = timer;
  }

  /** For hosts that check checksums themselves (tests). */
  static checksum(text: string): number {
    return lineChecksum(text);
  }
}
