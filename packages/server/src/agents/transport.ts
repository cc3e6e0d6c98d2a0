/**
 * How the server reaches agents: the embedded broker in this process (no credential, no socket) or
 * an external broker (Mosquitto, EMQX) through an MQTT client. The hub only sees this interface.
 */
export type MessageHandler = (topic: string, payload: Buffer) => void;

export interface AgentTransport {
  /** Subscribes to every agent's up topics; `onMessage` gets them in arrival order. */
  start(onMessage: MessageHandler, onReconnect: () => void): Promise<void>;
  stop(): Promise<void>;
  /** Resolves once the broker has the message (QoS 1: acknowledged). */
  publish(topic: string, payload: string, qos: 0 | 1): Promise<void>;
  readonly kind: 'embedded' | 'external';
}
