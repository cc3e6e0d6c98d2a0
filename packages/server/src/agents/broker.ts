import net from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { AuthService } from '../auth/auth-service.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../util/logger.ts';

/** The API key each connected client authenticated with. */
const keyOf = new WeakMap<Client, string>();

/**
 * The embedded MQTT broker edge agents connect to (RWC_MQTT_PORT, plain MQTT on the LAN).
 * An agent authenticates with an API key as its password; the broker refuses everyone else.
 */
export class AgentBroker {
  #server: net.Server | null = null;
  #broker: Aedes | null = null;
  readonly #owner = {};

  constructor(private readonly opts: { host: string; port: number; auth: AuthService; logger: Logger; bus?: EventBus }) {}

  /** The broker itself, for the server's in-process link to agents (agents/embedded-transport.ts). */
  get aedes(): Aedes | null {
    return this.#broker;
  }

  get port(): number {
    const addr = this.#server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    broker.authenticate = (client, _username, password, done) => {
      const key = password?.toString() ?? '';
      this.opts.auth.verifyApiKey(key).then(
        (user) => {
          if (user.role !== 'viewer') keyOf.set(client, user.id.replace(/^api-key:/, ''));
          done(null, user.role !== 'viewer');
        },
        () => done(null, false),
      );
    };
    // A revoked key loses its connection at once (and the next CONNECT is refused: the key is gone).
    this.opts.bus?.on('auth.revoked', this.#owner, ({ apiKeyId }) => {
      for (const client of Object.values((broker as unknown as { clients: Record<string, Client> }).clients)) {
        if (apiKeyId && keyOf.get(client) === apiKeyId) client.close();
      }
    });
    this.#broker = broker;
    const server = net.createServer(broker.handle);
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.opts.bus?.removeListeners(this.#owner);
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.#broker ? this.#broker.close(() => resolve()) : resolve()));
  }
}
