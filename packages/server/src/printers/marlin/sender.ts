import type { Clock, TimerHandle } from '../../util/clock.ts';
import { numberedLine } from './line-format.ts';
import type { AdvancedOk } from './parse.ts';

/** Where print lines come from; pulled only when the window has room. */
export interface JobLineSource {
  /** A line, 'wait' while more is being read from disk (call sender.pump() when it is), or 'end'. */
  take(): string | 'wait' | 'end';
}

type Waiter = { resolve(): void; reject(err: Error): void };
type Pending = { command: string; waiter?: Waiter };
type InFlight = { lineNumber: number; waiter?: Waiter; rejected: boolean; bytes: number; command: string };

/** Commands that legitimately hold their ok for long (OctoPrint's long-running commands + heat-and-wait). */
const LONG_RUNNING = /^(G4|G28|G29|G30|G32|M400|M226|M600|M109|M190|M191|M116)\b/i;

export interface SenderOptions {
  clock: Clock;
  write(line: string): void;
  /** No ok for this long while lines are in flight → communication timeout (OctoPrint: 30 s). */
  okTimeoutMs: number;
  /** Consecutive timeouts before giving up (OctoPrint: 5 while printing). */
  maxConsecutiveTimeouts: number;
  /** Upper bound on lines in flight with ADVANCED_OK. */
  maxWindow: number;
  /**
   * Bytes the host may keep waiting in the firmware's RX buffer beyond the command buffer
   * (Marlin RX_BUFFER_SIZE is 128 by default; stay under it). 0 = command buffer only.
   */
  rxBudgetBytes: number;
  onFailure(code: 'timeout' | 'resend_history' | 'resend_loop', message: string): void;
  onTimeout?(count: number): void;
  /**
   * Some firmware asks for a resend and never sends the `ok` after it (MarlinKimbra, Teacup-style):
   * when no ok comes within this many ms after a `Resend:`, act as if it had (OctoPrint's
   * `resendOk`, 0.5 s). Default 500.
   */
  resendOkMs?: number;
  /** Called when an ok had to be simulated after a resend (the firmware sent none). */
  onResendWithoutOk?(lineNumber: number): void;
  /**
   * With send-ahead, how long the echoes of a resend storm must stay away before the replay goes
   * out when not every line on the wire could be accounted for (AVR Marlin flushes some). Default 25.
   */
  resendQuietMs?: number;
}

const HISTORY = 200;
/** Genuine requests for the same line without progress before the job fails (OctoPrint: 10). */
const MAX_SAME_RESEND = 10;
const DEFAULT_RESEND_OK_MS = 500;
const DEFAULT_RESEND_QUIET_MS = 25;
const MIN_NOISY_WINDOW = 4;
const NOISE_RECOVERY_OKS = 32;

/**
 * The host side of Marlin's line protocol: every line numbered and checksummed, one line in flight
 * by default (OctoPrint's ackMax=1); once the firmware shows ADVANCED_OK (`ok N.. P.. B..`) it keeps
 * up to B-1 lines in flight so the planner never starves. Resends replay history with the original
 * numbers.
 *
 * Resend storms (../shared/cases/README.md, ADVANCED_OK under line noise): when Marlin rejects a line
 * it answers `Resend: N` + `ok`, and every further line already on the wire is then out of order and
 * gets its own `Error:Line Number…` + `Resend: N` + `ok`. Like OctoPrint, the first request is the
 * genuine one: the lines in flight at that moment are marked rejected, and a request for the same N
 * while rejected lines are still draining is their echo — swallowed, never counted towards a resend
 * loop. Once every rejected line is accounted for (by its echo's ok, or by an ADVANCED_OK `ok N..`
 * naming a later line), a request for N is genuine again (the replay itself was hit). No recoverable
 * line error fails a job; only the same line asked for 10 times with no progress in between does.
 */
export class LineSender {
  #nextLine = 1;
  #history = new Map<number, Pending>();
  #inFlight: InFlight[] = [];
  #priority: Pending[] = [];
  #replay: number[] = [];
  #job: JobLineSource | null = null;
  #held: Pending | null = null;
  #jobPaused = false;
  #capacity = 0;
  /** After a genuine resend: one line in flight until the replayed line is acknowledged. */
  #replayPending = false;
  /** After a genuine resend with lines still on the wire: send nothing until the storm has passed. */
  #holding = false;
  /**
   * The firmware was seen dropping lines from its RX buffer on a rejection (AVR MarlinSerial
   * flush()): a rejected line never answered, or a replay vanished. Only then are replays held
   * back during a storm; firmware that answers every line gets its replays at once.
   */
  #rxFlushes = false;
  /**
   * Send-ahead cap under line noise (additive increase, multiplicative decrease, as TCP does): a
   * genuine resend halves it (never below MIN_NOISY_WINDOW), every NOISE_RECOVERY_OKS clean oks give
   * one slot back. Every line on the wire when a line is hit comes back as an echo that fills the
   * return wire, so fewer of them in flight on a noisy line means less waste and less waiting.
   */
  #noiseCap = Number.POSITIVE_INFINITY;
  #cleanOks = 0;
  #quietTimer: TimerHandle | null = null;
  #lastResend: number | null = null;
  #sameResendCount = 0;
  #resendOkTimer: TimerHandle | null = null;
  /** The next ok is the one Marlin prints right after `Resend:` (see ok()). */
  #okFollowsResend = false;
  #timer: TimerHandle | null = null;
  #timeouts = 0;
  #stopped = false;
  stats = { linesSent: 0, resends: 0, resendEchoes: 0, resendsWithoutOk: 0, replaysLost: 0, timeouts: 0, maxInFlight: 0 };
  onDrained: () => void = () => {};

  constructor(private readonly opts: SenderOptions) {}

  get advancedOk(): boolean {
    return this.#capacity > 0;
  }

  get inFlight(): number {
    return this.#inFlight.length;
  }

  /** Lines that fit the firmware's command buffer: Marlin's B tops out at BUFSIZE-1, so max(B) slots are safe. */
  get window(): number {
    if (this.#capacity <= 0 || this.#replayPending) return 1;
    return Math.max(1, Math.min(this.opts.maxWindow, this.#capacity, this.#noiseCap));
  }

  #fits(bytes: number): boolean {
    // With ADVANCED_OK, lines a Resend made us replay do not hold the window: their oks may never
    // come (AVR Marlin's flush() drops the RX buffer when it asks for a resend), and the N in the
    // replayed lines' oks clears them anyway. Without it, every line keeps its slot (ok-per-line).
    const live = this.#capacity > 0 ? this.#inFlight.filter((f) => !f.rejected) : this.#inFlight;
    const n = live.length;
    if (n === 0) return true;
    const w = this.window;
    if (n < w) return true;
    if (w === 1 || n >= this.opts.maxWindow) return false;
    // Beyond the command buffer, lines wait in the RX buffer: keep their bytes under the budget.
    let waiting = bytes;
    for (let i = w; i < n; i++) waiting += live[i].bytes;
    return waiting <= this.opts.rxBudgetBytes;
  }

  /** True when nothing is queued or waiting for an ok. */
  get idle(): boolean {
    return this.#inFlight.length === 0 && this.#priority.length === 0 && this.#replay.length === 0 && !this.#held;
  }

  /** `M110 N<next-1>` was acknowledged: numbering restarts (at 1 after the `N0 M110 N0` hello). */
  resetLineNumbers(next = 1): void {
    this.#nextLine = next;
    this.#history.clear();
    this.#replay = [];
    this.#lastResend = null;
    this.#sameResendCount = 0;
    this.#replayPending = false;
    this.#releaseHold();
  }

  /** Queues a command ahead of print lines; resolves on its ok. */
  send(command: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#priority.push({ command, waiter: { resolve, reject } });
      this.pump();
    });
  }

  setJob(source: JobLineSource | null): void {
    this.#job = source;
    this.#held = null;
    this.#jobPaused = false;
    this.pump();
  }

  pauseJob(paused: boolean): void {
    this.#jobPaused = paused;
    if (!paused) this.pump();
  }

  /** Writes bypassing flow control and numbering (M112 and the emergency parser's commands). */
  forceWrite(raw: string): void {
    this.opts.write(raw);
  }

  /** Fails everything waiting; used when the connection goes away. */
  stop(reason: Error): void {
    this.#stopped = true;
    this.opts.clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.opts.clock.clearTimeout(this.#resendOkTimer);
    this.#resendOkTimer = null;
    this.opts.clock.clearTimeout(this.#quietTimer);
    this.#quietTimer = null;
    for (const p of this.#priority) p.waiter?.reject(reason);
    for (const f of this.#inFlight) f.waiter?.reject(reason);
    for (const [n, h] of this.#history) if (this.#replay.includes(n)) h.waiter?.reject(reason);
    this.#priority = [];
    this.#inFlight = [];
    this.#replay = [];
    this.#job = null;
    this.#held = null;
  }

  /** Any line from the printer proves it is alive (OctoPrint resets its timeout on every line). */
  activity(): void {
    if (this.#inFlight.length) this.#armTimer();
  }

  ok(adv?: AdvancedOk): void {
    this.#timeouts = 0;
    if (adv?.bufferFree != null) this.#capacity = Math.max(this.#capacity, adv.bufferFree);
    let popped: InFlight[] = [];
    // The ok printed right after `Resend:` acknowledges the rejection, not a command: Marlin 2 prints
    // it plain, Marlin 1.1 (and our simulator) with the N of whatever command is queued — never a
    // sign that lines up to that N are done. It frees the rejected line's entry only.
    const afterResend = this.#okFollowsResend;
    const n = afterResend ? null : adv?.lineNumber;
    this.#okFollowsResend = false;
    const rejectedAt = afterResend ? this.#inFlight.findIndex((f) => f.rejected) : -1;
    if (rejectedAt >= 0) {
      // Lines accepted before the rejection are still queued in the firmware and get their own oks.
      popped = this.#inFlight.splice(rejectedAt, 1);
    } else if (n != null && this.#inFlight.some((f) => f.lineNumber === n && !f.rejected)) {
      // ADVANCED_OK names the acknowledged line: earlier entries whose ok got lost (or that the
      // firmware flushed from its RX buffer after a rejection) are done too.
      const idx = this.#inFlight.findIndex((f) => f.lineNumber === n && !f.rejected);
      popped = this.#inFlight.splice(0, idx + 1);
      if (popped.some((f) => f.rejected)) this.#rxFlushes = true; // rejected lines that never answered
    } else if (this.#inFlight.length) popped = [this.#inFlight.shift()!];
    for (const f of popped) if (!f.rejected) f.waiter?.resolve();
    // Progress (an accepted line acknowledged) ends the watch over the last resend; progress past
    // the line last asked for makes a later request for it a new incident.
    if (popped.some((f) => !f.rejected)) {
      this.opts.clock.clearTimeout(this.#resendOkTimer);
      this.#resendOkTimer = null;
      if (this.#noiseCap !== Number.POSITIVE_INFINITY && ++this.#cleanOks >= NOISE_RECOVERY_OKS) {
        this.#cleanOks = 0;
        this.#noiseCap = this.#noiseCap + 1 > this.opts.maxWindow ? Number.POSITIVE_INFINITY : this.#noiseCap + 1;
      }
    }
    if (this.#lastResend !== null && popped.some((f) => !f.rejected && f.lineNumber >= this.#lastResend!)) {
      this.#sameResendCount = 0;
      this.#replayPending = false;
    }
    // Every line that was on the wire has answered: the storm is over, the replay may go.
    if (this.#holding && !this.#draining) this.#releaseHold();
    this.#afterAck();
  }

  #releaseHold(): void {
    this.opts.clock.clearTimeout(this.#quietTimer);
    this.#quietTimer = null;
    this.#holding = false;
  }

  /** (Re)starts the wait for the storm's echoes to stop; when it ends, the replay goes out. */
  #awaitQuiet(): void {
    this.opts.clock.clearTimeout(this.#quietTimer);
    this.#quietTimer = this.opts.clock.setTimeout(() => {
      this.#quietTimer = null;
      this.#holding = false;
      this.pump();
    }, this.opts.resendQuietMs ?? DEFAULT_RESEND_QUIET_MS);
  }

  /** True while lines that were on the wire at the last genuine resend are still draining. */
  get #draining(): boolean {
    return this.#inFlight.some((f) => f.rejected);
  }

  resend(lineNumber: number): void {
    if (lineNumber >= this.#nextLine) return; // nothing sent with that number yet
    if (lineNumber === this.#lastResend && this.#draining) {
      // The echo of a line that was already on the wire (see the class comment): not a new request.
      this.stats.resendEchoes++;
      this.#okFollowsResend = true;
      if (this.#holding) this.#awaitQuiet();
      this.#expectOkAfterResend(lineNumber);
      return;
    }
    if (lineNumber === this.#lastResend) this.#sameResendCount++;
    else this.#sameResendCount = 1;
    if (this.#sameResendCount > MAX_SAME_RESEND) {
      this.opts.onFailure('resend_loop', `printer asked for line ${lineNumber} ${MAX_SAME_RESEND} times without progress`);
      return;
    }
    const missing = [];
    for (let n = lineNumber; n < this.#nextLine; n++) if (!this.#history.has(n)) missing.push(n);
    if (missing.length) {
      this.opts.onFailure('resend_history', `should resend line ${lineNumber} but no sufficient history`);
      return;
    }
    this.stats.resends++;
    this.#lastResend = lineNumber;
    if (this.#capacity > 0) {
      this.#noiseCap = Math.max(MIN_NOISY_WINDOW, Math.floor(Math.min(this.#noiseCap, this.window) / 2));
      this.#cleanOks = 0;
    }
    // The replay goes out alone: on AVR Marlin a line that waits in the RX buffer behind the lines
    // still draining from the wire is flushed by their rejections. Once it is acknowledged, every
    // older line has been dealt with and the window opens again.
    // Lines sent after the bad one are still arriving and will each be refused. On firmware that
    // flushes its RX buffer on a rejection (AVR Marlin), anything sent now would queue up behind
    // them and be flushed: hold the replay until they have all answered or gone quiet, then send
    // it alone. Firmware that answers every line gets the replay at once and the window stays open.
    const onTheWire = this.#capacity > 0 && this.#inFlight.some((f) => f.lineNumber > lineNumber);
    this.#replayPending = this.#rxFlushes;
    this.#queueReplay(lineNumber);
    if (onTheWire && this.#rxFlushes) {
      this.#holding = true;
      this.#awaitQuiet();
    }
    this.#okFollowsResend = true;
    this.#expectOkAfterResend(lineNumber);
    this.pump();
  }

  /** Every line from `lineNumber` on is to be sent again (in order, with its original number). */
  #queueReplay(lineNumber: number): void {
    for (const f of this.#inFlight) if (f.lineNumber >= lineNumber) f.rejected = true;
    const replay = [];
    for (let n = lineNumber; n < this.#nextLine; n++) if (!this.#replay.includes(n)) replay.push(n);
    this.#replay = [...replay, ...this.#replay.filter((n) => n < lineNumber)].sort((a, b) => a - b);
  }

  /**
   * Watches a resend until an accepted line is acknowledged. If nothing is within resendOkMs:
   * - no `ok` came at all (firmware that sends none after `Resend:`, case marlin-resend-without-ok):
   *   act as if it had, so the replay goes out — also when the rejected line is a long-running one
   *   (M190, M109, G28, G29), which the ok timeout would otherwise wait for forever;
   * - with send-ahead (ADVANCED_OK), the replay itself went out but got no answer: a later rejection
   *   of a line still on the wire made AVR Marlin flush its RX buffer, replay included. Send it again
   *   (a duplicate that did arrive is refused by line number, never run twice).
   */
  #expectOkAfterResend(lineNumber: number): void {
    this.opts.clock.clearTimeout(this.#resendOkTimer);
    this.#resendOkTimer = this.opts.clock.setTimeout(() => {
      this.#resendOkTimer = null;
      if (this.#stopped) return;
      const replayed = this.#inFlight.find((f) => !f.rejected && f.lineNumber === this.#lastResend);
      if (replayed && this.#capacity > 0) {
        // A long-running command takes its time to answer: that is no sign of a lost line.
        if (LONG_RUNNING.test(replayed.command)) return this.#expectOkAfterResend(lineNumber);
        this.stats.replaysLost++;
        this.#rxFlushes = true;
        this.#queueReplay(replayed.lineNumber);
        this.#expectOkAfterResend(lineNumber);
        this.pump();
        return;
      }
      if (replayed) return; // one line in flight, the replay: its ok is simply slow
      this.stats.resendsWithoutOk++;
      this.opts.onResendWithoutOk?.(lineNumber);
      this.ok();
    }, this.opts.resendOkMs ?? DEFAULT_RESEND_OK_MS);
  }

  pump(): void {
    if (this.#stopped || this.#holding) return;
    for (;;) {
      if (this.#replay.length) {
        const n = this.#replay[0];
        const h = this.#history.get(n)!;
        if (!this.#fits(numberedLine(n, h.command).length + 1)) break;
        this.#replay.shift();
        this.#transmit(n, h);
        continue;
      }
      let fromPriority = true;
      let next = this.#priority[0];
      if (!next) {
        fromPriority = false;
        this.#held ??= this.#takeJobLine();
        if (!this.#held) break;
        next = this.#held;
      }
      const n = this.#nextLine;
      if (!this.#fits(numberedLine(n, next.command).length + 1)) break;
      if (fromPriority) this.#priority.shift();
      else this.#held = null;
      this.#nextLine++;
      this.#history.set(n, next);
      this.#history.delete(n - HISTORY);
      this.#transmit(n, next);
    }
  }

  #takeJobLine(): Pending | null {
    if (!this.#job || this.#jobPaused) return null;
    const line = this.#job.take();
    if (line === 'wait' || line === 'end') return null;
    return { command: line };
  }

  #transmit(n: number, p: Pending): void {
    const line = numberedLine(n, p.command);
    this.#inFlight.push({ lineNumber: n, waiter: p.waiter, rejected: false, bytes: line.length + 1, command: p.command });
    this.stats.linesSent++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.#inFlight.length);
    this.opts.write(line);
    this.#armTimer();
  }

  #afterAck(): void {
    if (this.#inFlight.length === 0) {
      this.opts.clock.clearTimeout(this.#timer);
      this.#timer = null;
    } else this.#armTimer();
    this.pump();
    if (this.idle) this.onDrained();
  }

  #armTimer(): void {
    this.opts.clock.clearTimeout(this.#timer);
    this.#timer = this.opts.clock.setTimeout(() => this.#onTimeout(), this.opts.okTimeoutMs);
  }

  #onTimeout(): void {
    this.#timer = null;
    if (!this.#inFlight.length) return;
    // A rejected line is not running: only a long-running command the firmware took may hold its ok.
    if (this.#inFlight.some((f) => !f.rejected && LONG_RUNNING.test(f.command))) {
      // Homing, heating, dwelling: no ok is expected yet, and Marlin without HOST_KEEPALIVE stays quiet.
      this.#armTimer();
      return;
    }
    this.#timeouts++;
    this.stats.timeouts++;
    this.opts.onTimeout?.(this.#timeouts);
    if (this.#timeouts > this.opts.maxConsecutiveTimeouts) {
      this.opts.onFailure('timeout', `no answer from the printer after ${this.#timeouts} timeouts`);
      return;
    }
    // OctoPrint's recovery: assume the ok got lost, carry on, and tickle the printer with M105.
    // If the line itself was lost, the next numbered line provokes a proper Resend.
    const f = this.#inFlight.shift()!;
    if (!f.rejected) f.waiter?.resolve();
    this.#priority.unshift({ command: 'M105' });
    this.#afterAck();
  }
}
