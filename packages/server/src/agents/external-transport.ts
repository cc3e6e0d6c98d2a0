import crypto from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../util/logger.ts';
import { ALL_UP_FILTER } from './protocol.ts';
import type { AgentTransport, MessageHandler } from './transport.ts';

/**
 * An external broker (RWC_MQTT_URL, e.g. mqtt://rwc-server:secret@broker:1883 or mqtts://…): the
 * server is one more MQTT client. Credentials travel in the URL; a private CA comes from
 * NODE_EXTRA_CA_CERTS, as for every TLS client of Node.
 */
export class ExternalTransport implements AgentTransport {
  readonly kind = 'external' as const;
  #client: MqttClient | null = null;

  constructor(private readonly opts: { url: string; logger: Logger }) {}

  async start(onMessage: MessageHandler, onReconnect: () => void): Promise<void> {
    const client = mqtt.connect(this.opts.url, {
      clientId: `rwc-server-${crypto.randomBytes(6).toString('hex')}`,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      keepalive: 15,
    });
    this.#client = client;
    client.on('message', (topic, payload) => onMessage(topic, payload));
    let first = true;
    client.on('connect', () => {
      client.subscribe(ALL_UP_FILTER, { qos: 1 }, (err) => {
        if (err) this.opts.logger.error({ err }, 'cannot subscribe to agent topics on the MQTT broker');
        else if (!first) onReconnect();
        first = false;
      });
    });
    client.on('error', (err) => this.opts.logger.warn({ err: err.message }, 'agent MQTT broker connection error'));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cannot reach the MQTT broker at ${redact(this.opts.url)}`)), 15_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const c = this.#client;
    this.#client = null;
    if (c) await c.endAsync();
  }

  async publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    if (!this.#client) throw new Error('not connected to the MQTT broker');
    await this.#client.publishAsync(topic, payload, { qos });
  }
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
