/**
 * The printer's MQTT broker: MQTT 3.1.1 over TLS (aedes), user `bblp` + access code,
 * `device/<serial>/report` published by the printer, `device/<serial>/request` read by it.
 * Topics are case-sensitive: a mis-cased serial subscribes fine and receives nothing (§1.2).
 */
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { Aedes, type AuthenticateError } from 'aedes';

export interface BrokerOptions {
  serial: string;
  accessCode: string;
  host: string;
  port: number;
  key: string;
  cert: string;
}

export class PrinterBroker {
  /** Called with each parsed JSON payload a client published on the request topic. */
  onRequest: (payload: Record<string, any>) => void = () => {};
  /** Called when a client subscribed (the printer answers nothing by itself; clients send pushall). */
  onClientReady: () => void = () => {};
  refuseAuth = false;
  killOnRequestSubscribe = false;
  #broker: Aedes | null = null;
  #server: tls.Server | null = null;
  readonly #sockets = new Set<Socket>();
  readonly #opts: BrokerOptions;

  constructor(opts: BrokerOptions) {
    this.#opts = opts;
  }

  get reportTopic(): string {
    return `device/${this.#opts.serial}/report`;
  }

  get requestTopic(): string {
    return `device/${this.#opts.serial}/request`;
  }

  get connectedClients(): number {
    return this.#broker?.connectedClients ?? 0;
  }

  async start(): Promise<number> {
    const broker = await Aedes.createBroker({ heartbeatInterval: 60_000, connectTimeout: 10_000 });
    this.#broker = broker;
    broker.authenticate = (_client, username, password, done) => {
      const fail = (code: 4 | 5, msg: string) => {
        const err = new Error(msg) as AuthenticateError;
        err.returnCode = code as AuthenticateError['returnCode'];
        done(err, false);
      };
      if (username !== 'bblp') return fail(4, 'bad user name or password');
      if (this.refuseAuth || !password || password.toString('utf8') !== this.#opts.accessCode) {
        return fail(5, 'not authorized');
      }
      done(null, true);
    };
    broker.on('publish', (packet, client) => {
      if (!client || packet.topic !== this.requestTopic) return;
      let payload: unknown;
      try {
        payload = JSON.parse(packet.payload.toString('utf8'));
      } catch {
        return; // the firmware ignores what it cannot parse
      }
      if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
        this.onRequest(payload as Record<string, any>);
      }
    });
    broker.on('subscribe', (subs, client) => {
      if (this.killOnRequestSubscribe && subs.some((s) => s.topic === this.requestTopic || s.topic === '#')) {
        client.close();
        return;
      }
      this.onClientReady();
    });
    // Errors from misbehaving clients must never take the simulator down.
    broker.on('clientError', () => {});
    broker.on('connectionError', () => {});

    // Bambu brokers speak TLS 1.2 only (bambu-protocol.md §1.1).
    const server = tls.createServer(
      { key: this.#opts.key, cert: this.#opts.cert, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' },
      (socket) => {
        this.#sockets.add(socket);
        // Reports go out as soon as they are made, as the printer's own broker sends them; Nagle's
        // algorithm would hold small ones back for the client's delayed ACK (up to ~40 ms).
        socket.setNoDelay(true);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {});
        broker.handle(socket);
      },
    );
    server.on('tlsClientError', () => {});
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as { port: number }).port;
  }

  publish(message: Record<string, any>): void {
    const broker = this.#broker;
    if (!broker || broker.closed) return;
    broker.publish(
      {
        cmd: 'publish',
        topic: this.reportTopic,
        payload: Buffer.from(JSON.stringify(message)),
        qos: 0,
        retain: false,
        dup: false,
      },
      () => {},
    );
  }

  /** Kills every client TCP connection (the broker itself stays up). */
  dropConnections(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  async stop(): Promise<void> {
    this.dropConnections();
    const server = this.#server;
    const broker = this.#broker;
    this.#server = null;
    this.#broker = null;
    if (server) await new Promise<void>((r) => server.close(() => r()));
    if (broker) await new Promise<void>((r) => broker.close(() => r()));
  }
}
