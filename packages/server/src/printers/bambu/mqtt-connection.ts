/**
 * One MQTT 3.1.1-over-TLS session to one printer, reconnected for ever (bambu-protocol.md §1.1-1.3).
 *
 * - user `bblp`, password = access code, SNI = serial, CN checked (tls.ts).
 * - A fresh client id on every (re)connect and a fresh mqtt.js client (its own reconnect is off):
 *   the broker drops the old session and no stale QoS-1 `project_file` is ever replayed (pitfall 9).
 * - On connect: subscribe `device/<serial>/report` only (never the request topic, pitfall 12),
 *   then `get_version` and `pushall`.
 * - Watchdog on the injected clock: no message for `staleAfterMs` → onStale, `pushing.start` +
 *   `pushall`; still nothing after `pushallGraceMs` → drop and reconnect with exponential backoff and
 *   jitter. The backoff only resets once a full report arrived (resetBackoff), so a session that
 *   connects but never reports cannot turn into a reconnect storm (pitfalls 10, 13).
 * - CONNACK 4/5 = wrong access code: stop retrying (pitfall 14).
 */
import { randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../util/clock.ts';
import type { Logger } from '../../util/logger.ts';
import { type BambuCommand, encodeCommand, getVersion, pushAll, pushStart, type SequenceIds } from './commands.ts';
import type { LinkStatus } from './state-map.ts';

export interface LinkTiming {
  staleAfterMs: number;
  pushallGraceMs: number;
  noReportNoteMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  connectTimeoutMs: number;
}

export const defaultLinkTiming: LinkTiming = {
  staleAfterMs: 60_000,
  pushallGraceMs: 10_000,
  noReportNoteMs: 20_000,
  reconnectBaseMs: 1_000,
  reconnectMaxMs: 30_000,
  connectTimeoutMs: 10_000,
};

export interface LinkEvents {
  onLinkChange(link: LinkStatus): void;
  onMessage(payload: Buffer): void;
  /** No message for staleAfterMs. */
  onStale(): void;
  /** Connected and asked for pushall, but nothing arrived within noReportNoteMs. */
  onNoReports(): void;
  onAuthRejected(returnCode: number): void;
  onConnectError(err: Error): void;
  log(kind: string, message: string, detail?: Record<string, unknown>): void;
}

export interface MqttConnectionOptions {
  host: string;
  port: number;
  serial: string;
  accessCode: string;
  tls: ConnectionOptions;
  clock: Clock;
  logger: Logger;
  timing: LinkTiming;
  sequence: SequenceIds;
  events: LinkEvents;
  random?: () => number;
}

export class MqttConnection {
  readonly #o: MqttConnectionOptions;
  #client: MqttClient | null = null;
  #generation = 0;
  #attempt = 0;
  #stopped = true;
  #connected = false;
  #gotMessage = false;
  #reconnectTimer: TimerHandle | null = null;
  #watchdog: TimerHandle | null = null;
  #grace: TimerHandle | null = null;
  #noReport: TimerHandle | null = null;

  constructor(o: MqttConnectionOptions) {
    this.#o = o;
  }

  get connected(): boolean {
    return this.#connected;
  }

  get reportTopic(): string {
    return `device/${this.#o.serial}/report`;
  }

  get requestTopic(): string {
    return `device/${this.#o.serial}/request`;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clearTimers();
    this.#o.clock.clearTimeout(this.#reconnectTimer);
    this.#generation++;
    await this.#closeClient();
    this.#connected = false;
  }

  /** A full report arrived: the session is healthy, so the next failure starts the backoff afresh. */
  resetBackoff(): void {
    this.#attempt = 0;
  }

  /** Publishes a command; QoS 1 for control commands (printers ignore QoS 0 while busy). */
  publish(cmd: BambuCommand, qos: 0 | 1): Promise<void> {
    const client = this.#client;
    if (!client || !this.#connected) return Promise.reject(new Error('not connected to the printer'));
    return new Promise((resolve, reject) => {
      client.publish(this.requestTopic, encodeCommand(cmd), { qos }, (err) => (err ? reject(err) : resolve()));
    });
  }

  #connect(): void {
    const gen = ++this.#generation;
    const o = this.#o;
    this.#connected = false;
    this.#gotMessage = false;
    o.events.onLinkChange('connecting');
    const clientId = `rwc_${randomBytes(6).toString('hex')}`;
    let client: MqttClient;
    try {
      client = mqtt.connect({
        ...(o.tls as IClientOptions),
        protocol: 'mqtts',
        host: o.host,
        port: o.port,
        username: 'bblp',
        password: o.accessCode,
        clientId,
        protocolVersion: 4,
        clean: true,
        keepalive: 30,
        reconnectPeriod: 0,
        connectTimeout: o.timing.connectTimeoutMs,
      });
    } catch (err) {
      o.events.onConnectError(err as Error);
      this.#scheduleReconnect();
      return;
    }
    this.#client = client;
    const current = () => gen === this.#generation && !this.#stopped;

    client.on('connect', () => {
      if (!current()) return;
      this.#connected = true;
      // Commands are small and urgent (a start waits on them): no Nagle delay.
      (client.stream as { setNoDelay?: (v: boolean) => void } | undefined)?.setNoDelay?.(true);
      o.events.log('mqtt.connected', `connected to ${o.host}:${o.port}`, { clientId });
      o.events.onLinkChange('connected');
      client.subscribe(this.reportTopic, { qos: 0 }, (err) => {
        if (!current()) return;
        if (err) o.logger.warn({ err }, 'bambu subscribe failed');
        this.#requestFullStatus();
      });
      this.#armWatchdog();
      this.#noReport = o.clock.setTimeout(() => {
        if (current() && !this.#gotMessage) o.events.onNoReports();
      }, o.timing.noReportNoteMs);
    });
    client.on('message', (_topic, payload) => {
      if (!current()) return;
      this.#gotMessage = true;
      this.#armWatchdog();
      try {
        o.events.onMessage(payload);
      } catch (err) {
        // One bad message must never drop the connection (pitfall 30).
        o.logger.warn({ err }, 'bambu report handling failed');
      }
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (!current()) return;
      const code = typeof err.code === 'number' ? err.code : null;
      if (code === 4 || code === 5) {
        this.#stopped = true; // wrong access code: retrying cannot help, and would hammer the printer
        this.#clearTimers();
        o.events.onAuthRejected(code);
        void this.#closeClient();
        this.#connected = false;
        o.events.onLinkChange('offline');
        return;
      }
      o.events.onConnectError(err);
    });
    client.on('close', () => {
      if (!current()) return;
      this.#generation++;
      const wasConnected = this.#connected;
      this.#connected = false;
      this.#clearTimers();
      void this.#closeClient();
      o.events.onLinkChange('offline');
      if (wasConnected) o.events.log('mqtt.disconnected', 'connection to the printer closed');
      this.#scheduleReconnect();
    });
  }

  #requestFullStatus(): void {
    const seq = this.#o.sequence;
    this.publish(getVersion(seq.next()), 0).catch(() => {});
    this.publish(pushAll(seq.next()), 0).catch(() => {});
  }

  #armWatchdog(): void {
    const { clock, timing } = this.#o;
    clock.clearTimeout(this.#watchdog);
    clock.clearTimeout(this.#grace);
    this.#grace = null;
    this.#watchdog = clock.setTimeout(() => this.#onSilence(), timing.staleAfterMs);
  }

  #onSilence(): void {
    const { clock, timing, events, sequence } = this.#o;
    if (this.#stopped) return;
    events.onStale();
    events.log('mqtt.stale', `no report for ${Math.round(timing.staleAfterMs / 1000)} s; asking for a full status`);
    // ha-bambulab's watchdog revives pushes with `pushing.start`; then ask for everything.
    this.publish(pushStart(sequence.next()), 0).catch(() => {});
    this.publish(pushAll(sequence.next()), 0).catch(() => {});
    const gen = this.#generation;
    this.#grace = clock.setTimeout(() => {
      if (gen !== this.#generation || this.#stopped) return;
      events.log('mqtt.reconnect', 'still no report after pushall; reconnecting');
      this.#generation++;
      this.#connected = false;
      this.#clearTimers();
      void this.#closeClient();
      events.onLinkChange('offline');
      this.#scheduleReconnect();
    }, timing.pushallGraceMs);
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    const { clock, timing, events } = this.#o;
    const random = this.#o.random ?? Math.random;
    const exp = Math.min(timing.reconnectMaxMs, timing.reconnectBaseMs * 2 ** Math.min(this.#attempt, 20));
    const delay = Math.round(exp * (0.8 + 0.4 * random()));
    this.#attempt++;
    events.log('mqtt.backoff', `reconnecting in ${delay} ms`, { attempt: this.#attempt, delayMs: delay });
    clock.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = clock.setTimeout(() => {
      this.#reconnectTimer = null;
      if (!this.#stopped) this.#connect();
    }, delay);
  }

  #clearTimers(): void {
    const { clock } = this.#o;
    clock.clearTimeout(this.#watchdog);
    clock.clearTimeout(this.#grace);
    clock.clearTimeout(this.#noReport);
    this.#watchdog = this.#grace = this.#noReport = null;
  }

  async #closeClient(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    client.removeAllListeners('message');
    client.on('error', () => {});
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }
}
