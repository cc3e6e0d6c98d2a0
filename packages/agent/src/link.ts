/**
 * The agent's MQTT link to the server: its own reconnect loop (a fresh client per attempt, so each
 * connection has its own id in the last will, and nothing queued for a dead connection is replayed
 * blindly), clean sessions (the server re-sends what matters after `hello`), QoS 1 for anything
 * that must arrive. TLS with mqtts:// (a private CA via --ca).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type DownName, type UpName, downFilter, parseJsonObject, parseTopic, upTopic } from '@rwc/server/agents/protocol.ts';
import type { Logger } from '@rwc/server/util/logger.ts';

export interface LinkOptions {
  url: string;
  agentId: string;
  key: string;
  /** PEM file of a private CA for mqtts://. */
  caFile?: string | null;
  /** Accept any TLS certificate (testing only). */
  insecure?: boolean;
  logger: Logger;
  onUp(conn: string): void;
  onDown(): void;
  onMessage(name: DownName, msg: Record<string, unknown>): void;
}

/** MQTT CONNACK codes that mean "your credentials are refused" (3.1.1: 4 bad user/password, 5 not authorised). */
const REFUSED = new Set([4, 5, 134, 135]);

export class ServerLink {
  #o: LinkOptions;
  #client: MqttClient | null = null;
  #conn = '';
  #up = false;
  #stopped = true;
  #failures = 0;
  #retry: NodeJS.Timeout | null = null;
  /** Why the last attempt failed (for logs and tests). */
  lastError: string | null = null;
  refused = false;

  constructor(opts: LinkOptions) {
    this.#o = opts;
  }

  get up(): boolean {
    return this.#up;
  }

  get conn(): string {
    return this.#conn;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Closes the link gracefully (status offline first, so the server knows at once). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    const c = this.#client;
    this.#client = null;
    if (c?.connected) {
      await c.publishAsync(upTopic(this.#o.agentId, 'status'), JSON.stringify({ online: false, conn: this.#conn }), { qos: 1, retain: true }).catch(() => undefined);
    }
    this.#setDown();
    await c?.endAsync(true).catch(() => undefined);
  }

  /** Resolves when the broker has it (QoS 1) or it is written (QoS 0); rejects while the link is down. */
  async publish(name: UpName, payload: unknown, qos: 0 | 1, retain = false): Promise<void> {
    const c = this.#client;
    if (!c || !this.#up) throw new Error('the link to the server is down');
    await c.publishAsync(upTopic(this.#o.agentId, name), JSON.stringify(payload), { qos, retain });
  }

  #options(): IClientOptions {
    const opts: IClientOptions = {
      clientId: `rwc-agent-${this.#o.agentId}`,
      username: this.#o.agentId,
      password: this.#o.key,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 15,
      protocolVersion: 4,
      will: { topic: upTopic(this.#o.agentId, 'status'), payload: Buffer.from(JSON.stringify({ online: false, conn: this.#conn })), qos: 1, retain: true },
    };
    if (this.#o.caFile) opts.ca = fs.readFileSync(this.#o.caFile);
    if (this.#o.insecure) opts.rejectUnauthorized = false;
    return opts;
  }

  #connect(): void {
    if (this.#stopped) return;
    this.#conn = crypto.randomBytes(8).toString('hex');
    let client: MqttClient;
    try {
      client = mqtt.connect(this.#o.url, this.#options());
    } catch (err) {
      this.lastError = (err as Error).message;
      this.#o.logger.error({ err: this.lastError }, 'cannot connect to the server broker');
      this.#scheduleRetry();
      return;
    }
    this.#client = client;
    client.on('connect', () => {
      if (this.#client !== client) return;
      this.refused = false;
      client.subscribe(downFilter(this.#o.agentId), { qos: 1 }, (err, granted) => {
        if (this.#client !== client) return;
        if (err || granted?.some((g) => g.qos === 128)) {
          this.#o.logger.error({ err: err?.message }, 'the broker refused the agent its topics');
          client.end(true);
          return;
        }
        this.#failures = 0;
        this.lastError = null;
        this.#up = true;
        client.publish(upTopic(this.#o.agentId, 'status'), JSON.stringify({ online: true, conn: this.#conn }), { qos: 1, retain: true });
        this.#o.logger.info({ url: this.#o.url }, 'linked to the server');
        this.#o.onUp(this.#conn);
      });
    });
    client.on('message', (topic, payload) => {
      if (this.#client !== client) return;
      const t = parseTopic(topic);
      if (t?.dir !== 'down' || t.agentId !== this.#o.agentId) return;
      let msg: Record<string, unknown>;
      try {
        msg = parseJsonObject(payload);
      } catch {
        this.#o.logger.warn({ topic }, 'bad message from the server ignored');
        return;
      }
      this.#o.onMessage(t.name, msg);
    });
    client.on('error', (err) => {
      const code = (err as { code?: number }).code;
      this.lastError = err.message;
      if (typeof code === 'number' && REFUSED.has(code)) {
        this.refused = true;
        this.#o.logger.error('the server refused the agent key (revoked, or not an agent key); printing goes on locally, retrying in a minute');
      } else this.#o.logger.warn({ err: err.message }, 'link error');
    });
    client.on('close', () => {
      if (this.#client !== client) return;
      this.#client = null;
      client.end(true);
      this.#setDown();
      this.#scheduleRetry();
    });
  }

  #setDown(): void {
    if (!this.#up) return;
    this.#up = false;
    this.#o.logger.warn('link to the server down; the printers go on locally');
    this.#o.onDown();
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retry) return;
    const wait = this.refused ? 60_000 : Math.min(30_000, 500 * 2 ** this.#failures++) * (0.75 + Math.random() / 2);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#connect();
    }, wait);
  }
}
