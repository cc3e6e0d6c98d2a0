import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { VirtualMarlin } from './firmware.ts';
import { SdCard } from './sd-card.ts';
import { Wire } from './wire.ts';

export { VirtualMarlin } from './firmware.ts';
export { SdCard } from './sd-card.ts';

export interface MarlinSimulatorOptions {
  transport?: 'tcp' | 'pty';
  port?: number;
  /** Simulated line speed; bytes/s = baud/10 both ways. 0 = unthrottled. Default 115200. */
  baudRate?: number;
  /** Reply `ok N<line> P<planner free> B<buffer free>` (Marlin ADVANCED_OK). */
  advancedOk?: boolean;
  /** Command buffer slots (Marlin BUFSIZE), default 4. */
  bufferSize?: number;
  rxBufferSize?: number;
  plannerSize?: number;
  /** Real seconds per simulated second (0.01 = 100× faster; 0 = instant). Default 1. */
  timeScale?: number;
  extruders?: number;
  sendWait?: boolean;
  busyIntervalMs?: number;
  /** Fixed latency per direction in ms (USB-serial adapters add 1–16 ms). Default 0. */
  latencyMs?: number;
  /** Advertise Cap:AUTOREPORT_TEMP (default true); false makes hosts poll M105. */
  autoreportTemp?: boolean;
  /**
   * true (default): a new host connection resets the board, as opening a USB serial port does
   * (DTR auto-reset). false: a serial-over-TCP bridge to a board that keeps running between host
   * connections: heaters keep their targets when the host goes away (what a crashed host leaves).
   */
  resetOnConnect?: boolean;
  /** AVR Marlin: a resend request also flushes the RX buffer (lines waiting there are lost). Default false. */
  flushRxOnResend?: boolean;
}

/**
 * A Marlin printer on TCP (serial-over-network, the default for tests) or on a pseudo-terminal made
 * with socat. Each new TCP connection is a power-cycle (USB hosts reset the board on open).
 */
export class MarlinSimulator {
  readonly sd = new SdCard();
  firmware: VirtualMarlin | null = null;
  connections = 0;
  ptyPath?: string;
  #opts: Required<MarlinSimulatorOptions>;
  #server: net.Server | null = null;
  #socket: net.Socket | null = null;
  #toHost: Wire | null = null;
  #toPrinter: Wire | null = null;
  #socat: ChildProcess | null = null;
  #serial: { write(d: Buffer): void; close(cb?: () => void): void; on(e: string, f: (d: Buffer) => void): void } | null = null;
  #port = 0;

  constructor(opts: MarlinSimulatorOptions = {}) {
    this.#opts = {
      transport: opts.transport ?? 'tcp',
      port: opts.port ?? 0,
      baudRate: opts.baudRate ?? 115200,
      advancedOk: opts.advancedOk ?? false,
      bufferSize: opts.bufferSize ?? 4,
      rxBufferSize: opts.rxBufferSize ?? 128,
      plannerSize: opts.plannerSize ?? 16,
      timeScale: opts.timeScale ?? 1,
      extruders: opts.extruders ?? 1,
      sendWait: opts.sendWait ?? false,
      busyIntervalMs: opts.busyIntervalMs ?? 2000,
      latencyMs: opts.latencyMs ?? 0,
      autoreportTemp: opts.autoreportTemp ?? true,
      resetOnConnect: opts.resetOnConnect ?? true,
      flushRxOnResend: opts.flushRxOnResend ?? false,
    };
  }

  get url(): string {
    return `tcp://127.0.0.1:${this.#port}`;
  }

  get options(): Readonly<Required<MarlinSimulatorOptions>> {
    return this.#opts;
  }

  async start(): Promise<void> {
    if (this.#opts.transport === 'pty') return this.#startPty();
    this.#server = net.createServer((socket) => this.#onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(this.#opts.port, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.#powerOff();
    this.#socket?.destroy();
    this.#socket = null;
    if (this.#server) await new Promise<void>((r) => this.#server!.close(() => r()));
    this.#server = null;
    if (this.#serial) await new Promise<void>((r) => this.#serial!.close(() => r()));
    this.#serial = null;
    this.#socat?.kill();
    this.#socat = null;
  }

  // ---- fault injection ----
  garbleNextLine(): void {
    this.#fw().faults.garbleNextLine = true;
  }
  garbleNextOk(): void {
    this.#fw().faults.garbleNextOk = true;
  }
  dropNextOk(count = 1): void {
    this.#fw().faults.dropNextOk += count;
  }
  /** Probability (0..1) that a received line is corrupted (→ checksum error and resend). */
  setLineNoise(ratio: number): void {
    this.#fw().faults.noiseRatio = ratio;
  }
  emitFatal(kind: 'kill' | 'thermal' = 'kill'): void {
    const lines =
      kind === 'thermal'
        ? ['Error:Thermal Runaway, system stopped! Heater_ID: 0', 'Error:Printer halted. kill() called!']
        : ['Error:Printer halted. kill() called!'];
    this.#fw().kill(lines);
  }
  /** The board stops answering anything (a hung firmware). */
  goSilent(): void {
    this.#fw().faults.silent = true;
  }
  /** Drops the host connection (USB unplug / network bridge reset). */
  disconnect(): void {
    if (this.#socket) this.#socket.destroy();
    else if (this.#serial) this.#powerOn((d) => this.#serial!.write(Buffer.from(d, 'latin1')));
  }

  get commandLog(): string[] {
    return this.firmware?.commandLog ?? [];
  }

  #fw(): VirtualMarlin {
    if (!this.firmware) throw new Error('no firmware running: no host connected yet');
    return this.firmware;
  }

  #powerOff(): void {
    this.firmware?.shutdown();
    this.#toHost?.close();
    this.#toPrinter?.close();
  }

  #powerOn(send: (data: string) => void): void {
    this.#powerOff();
    const bps = this.#opts.baudRate / 10;
    this.#toHost = new Wire(bps, send, this.#opts.latencyMs);
    const fw = new VirtualMarlin({ ...this.#opts, sd: this.sd }, (line) => this.#toHost?.push(`${line}\n`));
    this.#toPrinter = new Wire(bps, (data) => fw.receive(data), this.#opts.latencyMs);
    this.firmware = fw;
    this.connections++;
    fw.boot();
  }

  #hostSend: ((data: string) => void) | null = null;

  #onConnection(socket: net.Socket): void {
    this.#socket?.destroy();
    this.#socket = socket;
    socket.setNoDelay(true);
    this.#hostSend = (d) => socket.write(d, 'latin1');
    // Without a reset the running board only gets a new host on the wire.
    if (this.#opts.resetOnConnect || !this.firmware) this.#powerOn((d) => this.#hostSend?.(d));
    const toPrinter = this.#toPrinter!;
    socket.on('data', (buf) => toPrinter.push(buf.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#socket === socket) {
        this.#socket = null;
        this.#hostSend = null;
        if (this.#opts.resetOnConnect) this.#powerOff();
      }
    });
  }

  async #startPty(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-marlin-'));
    const printerEnd = path.join(dir, 'printer');
    const hostEnd = path.join(dir, 'host');
    this.#socat = spawn('socat', [`pty,raw,echo=0,link=${printerEnd}`, `pty,raw,echo=0,link=${hostEnd}`], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 200 && !(fs.existsSync(printerEnd) && fs.existsSync(hostEnd)); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    if (!fs.existsSync(hostEnd)) throw new Error('socat did not create the pseudo-terminals');
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path: printerEnd, baudRate: this.#opts.baudRate || 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.#serial = port as never;
    port.on('data', (buf: Buffer) => this.#toPrinter?.push(buf.toString('latin1')));
    this.ptyPath = hostEnd;
    this.#powerOn((d) => port.write(Buffer.from(d, 'latin1')));
  }
}
