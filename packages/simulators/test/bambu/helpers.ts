import mqtt, { type MqttClient } from 'mqtt';
import type { BambuSimulator } from '../../src/bambu/index.ts';

export interface ReportClient {
  client: MqttClient;
  messages: Record<string, any>[];
  /** Later `waitFor` calls only look at messages received after this call. */
  mark(): void;
  /** Resolves with the first message (received since the last mark, or future) matching `pred`. */
  waitFor(pred: (m: Record<string, any>) => boolean, timeoutMs?: number, label?: string): Promise<Record<string, any>>;
  request(payload: Record<string, any>): Promise<void>;
  close(): Promise<void>;
}

/** Connects the way a driver should: mqtts, CA pinned, servername = serial (CN check). */
export function connectOptions(sim: BambuSimulator, over: Record<string, any> = {}) {
  return {
    host: sim.host,
    port: sim.ports.mqtt,
    protocol: 'mqtts' as const,
    protocolVersion: 4 as const,
    username: 'bblp',
    password: sim.accessCode,
    ca: sim.caCertPem,
    servername: sim.serial,
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clean: true,
    clientId: `test-${Math.random().toString(16).slice(2)}`,
    ...over,
  };
}

/** Connect error (e.g. CONNACK refusal) or null when connected. */
export function tryConnect(opts: Record<string, any>): Promise<{ client: MqttClient; error: any }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(opts);
    client.once('connect', () => resolve({ client, error: null }));
    client.once('error', (error) => {
      client.end(true);
      resolve({ client, error });
    });
  });
}

export async function connectReports(sim: BambuSimulator): Promise<ReportClient> {
  const { client, error } = await tryConnect(connectOptions(sim));
  if (error) throw error;
  const messages: Record<string, any>[] = [];
  const waiters: { pred: (m: Record<string, any>) => boolean; resolve: (m: Record<string, any>) => void }[] = [];
  client.on('message', (_topic, payload) => {
    const m = JSON.parse(payload.toString('utf8'));
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.pred(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  await client.subscribeAsync(`device/${sim.serial}/report`);
  let seq = 1;
  let cursor = 0;
  return {
    client,
    messages,
    mark() {
      cursor = messages.length;
    },
    waitFor(pred, timeoutMs = 10_000, label = 'message') {
      const found = messages.slice(cursor).find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for ${label}`));
        }, timeoutMs);
        w.resolve = (m) => {
          clearTimeout(t);
          resolve(m);
        };
        waiters.push(w);
      });
    },
    async request(payload) {
      const [type] = Object.keys(payload);
      if (payload[type].sequence_id === undefined) payload[type].sequence_id = String(seq++);
      await client.publishAsync(`device/${sim.serial}/request`, JSON.stringify(payload), { qos: 1 });
    },
    close: () => client.endAsync(true),
  };
}

export const isFull = (m: Record<string, any>) => m.print?.command === 'push_status' && m.print.msg === 0;
export const isDelta = (m: Record<string, any>) => m.print?.command === 'push_status' && m.print.msg === 1;
export const isAck = (command: string, seq?: string) => (m: Record<string, any>) =>
  Object.values(m).some(
    (b: any) => b?.command === command && b.result !== undefined && (seq === undefined || b.sequence_id === seq),
  );
export const stateIs = (s: string) => (m: Record<string, any>) => m.print?.gcode_state === s;
