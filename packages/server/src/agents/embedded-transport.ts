import type { Aedes, AedesPublishPacket, PublishPacket } from 'aedes';
import { ALL_UP_FILTER } from './protocol.ts';
import type { AgentTransport, MessageHandler } from './transport.ts';

/**
 * The embedded broker, used in-process: the server subscribes and publishes through aedes' own API,
 * so it needs no credential and is not subject to the per-agent topic rules clients are.
 */
export class EmbeddedTransport implements AgentTransport {
  readonly kind = 'embedded' as const;
  #deliver: ((packet: AedesPublishPacket, cb: () => void) => void) | null = null;

  constructor(private readonly broker: () => Aedes | null) {}

  async start(onMessage: MessageHandler): Promise<void> {
    const broker = this.#broker();
    this.#deliver = (packet, cb) => {
      try {
        onMessage(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
      } finally {
        cb();
      }
    };
    await new Promise<void>((resolve) => broker.subscribe(ALL_UP_FILTER, this.#deliver!, resolve));
  }

  async stop(): Promise<void> {
    const broker = this.broker();
    if (!broker || broker.closed || !this.#deliver) return;
    await new Promise<void>((resolve) => broker.unsubscribe(ALL_UP_FILTER, this.#deliver!, resolve));
    this.#deliver = null;
  }

  publish(topic: string, payload: string, qos: 0 | 1): Promise<void> {
    const broker = this.#broker();
    const packet = { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false } as PublishPacket;
    return new Promise((resolve, reject) => broker.publish(packet, (err) => (err ? reject(err) : resolve())));
  }

  #broker(): Aedes {
    const b = this.broker();
    if (!b || b.closed) throw new Error('the embedded MQTT broker is not running');
    return b;
  }
}
