import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { Aedes, type Client } from 'aedes';
import type { AuthService } from '../auth/auth-service.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../util/logger.ts';
import { brokerPolicy } from './broker-policy.ts';
import { ensureSelfSignedCert } from './self-signed.ts';

export interface BrokerTlsOptions {
  port: number;
  /** PEM files; null = a self-signed pair made once in `dataDir`. */
  certFile: string | null;
  keyFile: string | null;
  dataDir: string;
}

interface AgentIdentity {
  apiKeyId: string;
  ownerId: string | null;
}

const identities = new WeakMap<Client, AgentIdentity>();

/**
 * The embedded MQTT broker edge agents connect to (RWC_MQTT_PORT plain, RWC_MQTT_TLS_PORT over TLS).
 * An agent authenticates with an operator (or admin) API key as its password and then reaches only
 * its own topics, `rwc/agents/<apiKeyId>/…` (agents/broker-policy.ts, docs/decisions.md). A client
 * id stays bound to the key that first used it, so one key cannot take over another's session; a
 * revoked key (or its deleted maker) is disconnected at once.
 */
export class AgentBroker {
  #server: net.Server | null = null;
  #tlsServer: tls.Server | null = null;
  #broker: Aedes | null = null;
  /** clientId → API key id, for the broker's life (sessions live as long). */
  readonly #clientKeys = new Map<string, string>();
  readonly #owner = {};

  constructor(
    private readonly opts: {
      host: string;
      port: number;
      auth: AuthService;
      logger: Logger;
      bus?: EventBus;
      tls?: BrokerTlsOptions | null;
    },
  ) {}

  /** The broker itself, for the server's in-process link to agents (agents/embedded-transport.ts). */
  get aedes(): Aedes | null {
    return this.#broker;
  }

  get port(): number {
    const addr = this.#server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  get tlsPort(): number {
    const addr = this.#tlsServer?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    const refuse = (code: 2 | 4 | 5, message: string) => Object.assign(new Error(message), { returnCode: code });
    broker.authenticate = (client, _username, password, done) => {
      const key = password?.toString() ?? '';
      this.opts.auth.verifyApiKey(key).then(
        (user) => {
          if (user.role === 'viewer' || !user.apiKeyId) return done(refuse(5, 'viewer keys cannot connect'), false);
          const bound = this.#clientKeys.get(client.id);
          if (bound && bound !== user.apiKeyId) {
            this.opts.logger.warn({ clientId: client.id }, 'MQTT client id belongs to another API key; refused');
            return done(refuse(2, 'client id in use by another credential'), false);
          }
          this.#clientKeys.set(client.id, user.apiKeyId);
          identities.set(client, { apiKeyId: user.apiKeyId, ownerId: user.ownerId ?? null });
          done(null, true);
        },
        () => done(refuse(4, 'bad credentials'), false),
      );
    };
    broker.authorizePublish = (client, packet, callback) => {
      const id = client ? identities.get(client) : undefined;
      if (!id || !brokerPolicy.mayPublish(id.apiKeyId, packet.topic)) {
        return callback(new Error(`publishing to ${packet.topic} is not allowed`));
      }
      callback(null);
    };
    broker.authorizeSubscribe = (client, sub, callback) => {
      const id = identities.get(client);
      // A null subscription is refused in the SUBACK (0x80) while the connection stays up.
      callback(null, id && brokerPolicy.maySubscribe(id.apiKeyId, sub.topic) ? sub : null);
    };
    this.opts.bus?.on('auth.revoked', this.#owner, (event) => {
      for (const client of Object.values((broker as unknown as { clients: Record<string, Client> }).clients)) {
        const id = identities.get(client);
        if (!id) continue;
        if (event.apiKeyId === id.apiKeyId || (event.userId && event.userId === id.ownerId)) {
          this.opts.logger.info({ clientId: client.id }, 'MQTT client disconnected: credentials revoked');
          client.close();
        }
      }
      // 'all': a revocation made through another server process closes the clients held here too.
    }, 'all');
    this.#broker = broker;
    const server = net.createServer(broker.handle);
    this.#server = server;
    await listen(server, this.opts.port, this.opts.host);
    if (this.opts.tls) {
      const t = this.opts.tls;
      const pair =
        t.certFile && t.keyFile
          ? { cert: fs.readFileSync(t.certFile, 'utf8'), key: fs.readFileSync(t.keyFile, 'utf8') }
          : await ensureSelfSignedCert(path.join(t.dataDir, 'mqtt-tls'));
      const tlsServer = tls.createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, broker.handle);
      this.#tlsServer = tlsServer;
      await listen(tlsServer, t.port, this.opts.host);
    }
  }

  async stop(): Promise<void> {
    this.opts.bus?.removeListeners(this.#owner);
    for (const s of [this.#server, this.#tlsServer]) await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.#broker ? this.#broker.close(() => resolve()) : resolve()));
  }
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
