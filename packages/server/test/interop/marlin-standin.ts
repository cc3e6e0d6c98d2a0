/**
 * A deliberately small, independent Marlin stand-in on a TCP socket, written from the protocol
 * notes (docs/octoprint-moonraker-obico.md §1) and real transcripts (fixtures/octo), not from our
 * simulator. It answers the way Marlin 2.x's GCodeQueue does:
 * - `start` banner on connect;
 * - numbered lines checked for `*checksum` (XOR of the bytes before `*`) and for N == last+1
 *   (`M110` exempt): failures print `Error:<why>, Last Line: <n>`, `Resend: <n+1>`, `ok`;
 * - one `ok` per executed command, `ok N<n> P<planner free> B<buffer free>` with ADVANCED_OK;
 * - M105 answers `ok T:.. /.. B:.. /.. @:0 B@:0` itself (Marlin skips the normal ok for it);
 * - long commands (G28, G4) print `echo:busy: processing` until done, M109/M190 `T:.. W:?` lines.
 */
import net from 'node:net';

export interface MarlinStandinOptions {
  firmwareLine: string;
  /** `Cap:NAME:v` lines printed after the firmware line (none for old firmware). */
  caps: Record<string, 0 | 1>;
  advancedOk: boolean;
  /** Marlin BUFSIZE: command slots; lines beyond it wait in the RX buffer. */
  bufsize: number;
  /** `Resend: n` (Marlin 2) or `Resend:n` (Marlin 1.x). */
  resendSpace: boolean;
  /** The M105 answer body after `ok `. */
  tempReport: string;
  /** How long a G28/M109/M190/G4 takes, and how often busy lines come meanwhile. */
  longCommandMs: number;
  busyIntervalMs: number;
  /** Receiving a line whose command matches: pretend it arrived corrupted (once). */
  corruptOnce?: RegExp;
  /** Executing a command that matches: `Error:Printer halted. kill() called!` and go silent. */
  killOn?: RegExp;
  /** Receiving a line whose command matches: lose it on the wire (once), as if never sent. */
  dropOnce?: RegExp;
  /** Drop the RX buffer when asking for a resend (AVR MarlinSerial flush()). */
  flushRxOnError?: boolean;
  /** After connect the board boots (Arduino auto-reset) and loses whatever arrives this long. */
  bootMs?: number;
  /** A line printed just before the kill line (Marlin names the cause first, e.g. thermal runaway). */
  killCause?: string;
  /** Firmware that asks for a resend and never sends the `ok` after it (MarlinKimbra, Teacup-style). */
  noOkAfterResend?: boolean;
  /** Line noise: every Nth numbered line received arrives corrupted (a checksum error). */
  corruptEvery?: number;
  /** After executing a command that matches, print these lines (once each) before its ok. */
  afterExecute?: Array<{ match: RegExp; lines: string[] }>;
}

export const MARLIN2_NO_AUTOREPORT: MarlinStandinOptions = {
  firmwareLine:
    'FIRMWARE_NAME:Marlin 2.1.2.1 (Jul 10 2023 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff',
  caps: { SERIAL_XON_XOFF: 0, BINARY_FILE_TRANSFER: 0, EEPROM: 1, VOLUMETRIC: 1, AUTOREPORT_POS: 0, AUTOREPORT_TEMP: 0, PROGRESS: 0, PRINT_JOB: 1, AUTOLEVEL: 0, Z_PROBE: 0, LEVELING_DATA: 0, BUILD_PERCENT: 0, SOFTWARE_POWER: 0, TOGGLE_LIGHTS: 0, EMERGENCY_PARSER: 0, PROMPT_SUPPORT: 0, SDCARD: 1, AUTOREPORT_SD_STATUS: 0, THERMAL_PROTECTION: 1 },
  advancedOk: false,
  bufsize: 4,
  resendSpace: true,
  tempReport: 'T:21.3 /0.0 B:21.0 /0.0 @:0 B@:0',
  longCommandMs: 120,
  busyIntervalMs: 30,
};

export const MARLIN2_ADVANCED_OK: MarlinStandinOptions = {
  ...MARLIN2_NO_AUTOREPORT,
  caps: { ...MARLIN2_NO_AUTOREPORT.caps, AUTOREPORT_TEMP: 1, EMERGENCY_PARSER: 1 },
  advancedOk: true,
};

/** Marlin 1.1-era: no Cap lines, `Resend:n`, plain `ok`, temperatures with a T0 copy. */
export const MARLIN1_OLD_STYLE: MarlinStandinOptions = {
  ...MARLIN2_NO_AUTOREPORT,
  firmwareLine: 'FIRMWARE_NAME:Marlin 1.1.0-RC8 (Github) SOURCE_CODE_URL:https://github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:RepRap EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff',
  caps: {},
  resendSpace: false,
  tempReport: 'T:21.3 /0.0 B:21.0 /0.0 T0:21.3 /0.0 @:0 B@:0',
};

const LONG = /^(G28|G29|G4|M109|M190)\b/;

function xor(text: string): number {
  let cs = 0;
  for (let i = 0; i < text.length; i++) cs ^= text.charCodeAt(i) & 0xff;
  return cs;
}

export class MarlinStandin {
  /** Every raw line received, in order. */
  readonly received: string[] = [];
  /** Commands accepted and executed (numbered lines after checks; bare lines as they are). */
  readonly executed: string[] = [];
  /** Lines the stand-in rejected with a resend request. */
  readonly rejected: string[] = [];
  /** Most lines ever waiting at once (in-flight depth the host used). */
  maxWaiting = 0;
  connections = 0;
  killed = false;
  #server = net.createServer((s) => this.#onSocket(s));
  #sockets = new Set<net.Socket>();
  #corrupted = false;
  #dropped = false;
  #numberedSeen = 0;
  readonly #afterDone = new WeakSet<object>();
  /** Lines lost on the wire (dropOnce, or sent while booting). */
  readonly lost: string[] = [];
  /** Both directions, `<` host to printer, `>` printer to host (for failure messages). */
  readonly transcript: string[] = [];

  constructor(readonly opts: MarlinStandinOptions) {}

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `tcp://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #onSocket(socket: net.Socket): void {
    this.connections++;
    this.#sockets.add(socket);
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    let lastN = 0;
    let buf = '';
    /** Lines in the RX buffer, not yet looked at. */
    const waiting: string[] = [];
    /** The command ring (BUFSIZE slots); the command executing is out of it but counts for B. */
    const cmds: Array<{ command: string; n: number | null }> = [];
    let busy = false;
    let autoreport: NodeJS.Timeout | null = null;
    const write = (line: string) => {
      this.transcript.push(`> ${line}`);
      if (!socket.destroyed) socket.write(`${line}\r\n`);
    };
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (autoreport) clearInterval(autoreport);
    });
    socket.on('error', () => {});
    const connectedAt = Date.now();
    const banner = () => {
      write('start');
      write('echo:Marlin 2.1.2.1');
      write('echo: Last Updated: 2023-07-10 | Author: (none, default config)');
      write('echo:SD card ok');
    };
    if (this.opts.bootMs) setTimeout(banner, this.opts.bootMs);
    else banner();

    const ok = (n: number | null) => {
      if (!this.opts.advancedOk) return write('ok');
      const free = Math.max(0, this.opts.bufsize - cmds.length - 1);
      write(`ok${n === null ? '' : ` N${n}`} P15 B${free}`);
    };
    const resend = (why: string) => {
      write(`Error:${why}, Last Line: ${lastN}`);
      write(`Resend:${this.opts.resendSpace ? ' ' : ''}${lastN + 1}`);
      if (!this.opts.noOkAfterResend) write('ok');
    };

    const execute = (command: string, n: number | null, done: () => void) => {
      this.executed.push(command);
      (this.opts.afterExecute ?? []).forEach((a) => {
        if (!this.#afterDone.has(a) && a.match.test(command)) {
          this.#afterDone.add(a);
          for (const l of a.lines) write(l);
        }
      });
      if (this.opts.killOn?.test(command)) {
        this.killed = true;
        if (this.opts.killCause) write(this.opts.killCause);
        write('Error:Printer halted. kill() called!');
        return; // a halted Marlin answers nothing more
      }
      const code = command.split(/\s+/)[0].toUpperCase();
      if (code === 'M105') {
        write(`ok ${this.opts.tempReport}`);
        return done();
      }
      if (code === 'M115') {
        write(this.opts.firmwareLine);
        for (const [name, v] of Object.entries(this.opts.caps)) write(`Cap:${name}:${v}`);
        ok(n);
        return done();
      }
      if (code === 'M155') {
        if (autoreport) clearInterval(autoreport);
        const s = Number(/S(\d+)/.exec(command)?.[1] ?? 0);
        // Autoreport lines carry a leading space and no ok; here faster than S seconds.
        if (s > 0) autoreport = setInterval(() => write(` ${this.opts.tempReport}`), 50);
        ok(n);
        return done();
      }
      if (LONG.test(command)) {
        // Heat-and-wait reports temperatures with a `W:` countdown instead of busy keepalives.
        const heating = code === 'M109' || code === 'M190';
        const keepalive = heating ? ` ${this.opts.tempReport} W:?` : 'echo:busy: processing';
        const timer = setInterval(() => write(keepalive), this.opts.busyIntervalMs);
        setTimeout(() => {
          clearInterval(timer);
          if (code === 'M109') write(` ${this.opts.tempReport}`);
          ok(n);
          done();
        }, this.opts.longCommandMs);
        return;
      }
      ok(n);
      done();
    };

    /**
     * Marlin's get_serial_commands: between commands (never during a blocking one) it moves lines
     * from the RX buffer into the command ring while there is room, checking each as it goes.
     * A bad line is answered at once, possibly ahead of the oks of commands still queued.
     */
    const readSerial = () => {
      while (!busy && !this.killed && waiting.length && cmds.length < this.opts.bufsize) {
        const raw = waiting.shift()!;
        const m = /^N(\d+)\s*(.*)$/.exec(raw);
        if (!m) {
          cmds.push({ command: raw.trim(), n: null });
          continue;
        }
        const star = raw.lastIndexOf('*');
        const n = Number(m[1]);
        const body = star >= 0 ? raw.slice(0, star) : raw;
        const command = body.replace(/^N\d+\s*/, '').trim();
        const isM110 = /^M110\b/.test(command);
        let error: string | null = null;
        if (!isM110) this.#numberedSeen++;
        const noisy = !!this.opts.corruptEvery && !isM110 && this.#numberedSeen % this.opts.corruptEvery === 0;
        const corrupt = noisy || (!this.#corrupted && this.opts.corruptOnce?.test(command));
        if (star < 0) error = 'No Checksum with line number';
        else if (corrupt || Number(raw.slice(star + 1)) !== xor(body)) error = 'checksum mismatch';
        else if (!isM110 && n !== lastN + 1) error = 'Line Number is not Last Line Number+1';
        if (error) {
          this.#corrupted ||= Boolean(corrupt && !noisy);
          this.rejected.push(raw);
          resend(error);
          // AVR MarlinSerial's flush() on a resend request also drops what waits in the RX buffer.
          if (this.opts.flushRxOnError) this.lost.push(...waiting.splice(0));
          continue;
        }
        lastN = isM110 ? Number(/N(\d+)/.exec(command.slice(4))?.[1] ?? n) : n;
        cmds.push({ command, n });
      }
    };

    const processNext = () => {
      readSerial();
      if (busy || this.killed || socket.destroyed) return;
      const next = cmds.shift();
      if (!next) return;
      busy = true;
      execute(next.command, next.n, () => {
        busy = false;
        setImmediate(processNext);
      });
    };

    socket.on('data', (chunk: string) => {
      buf += chunk;
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const p of parts) {
        const line = p.replace(/\r$/, '');
        if (!line.trim()) continue;
        this.received.push(line);
        this.transcript.push(`< ${line}`);
        const booting = this.opts.bootMs !== undefined && Date.now() - connectedAt < this.opts.bootMs;
        const drop = !this.#dropped && this.opts.dropOnce?.test(line.replace(/^N\d+\s*/, ''));
        if (booting || drop) {
          this.#dropped ||= Boolean(drop);
          this.lost.push(line);
          continue;
        }
        waiting.push(line);
      }
      this.maxWaiting = Math.max(this.maxWaiting, waiting.length + cmds.length + (busy ? 1 : 0));
      processNext();
    });
  }
}
