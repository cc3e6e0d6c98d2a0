import net from 'node:net';
import { Aedes } from 'aedes';
import type { AuthService } from '../auth/auth-service.ts';
import type { Logger } from '../util/logger.ts';

/**
 * The embedded MQTT broker edge agents connect to (RWC_MQTT_PORT, plain MQTT on the LAN).
 * An agent authenticates with an API key as its password; the broker refuses everyone else.
 */
export class AgentBroker {
  #server: net.Server | null = null;
  #broker: Aedes | null = null;

  constructor(private readonly opts: { host: string; port: number; auth: AuthService; logger: Logger }) {}

  get port(): number {
    const addr = this.#server?.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    broker.authenticate = (_client, _username, password, done) => {
      const key = password?.toString() ?? '';
      this.opts.auth.verifyApiKey(key).then(
        (user) => done(null, user.role !== 'viewer'),
        () => done(null, false),
      );
    };
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
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.#broker ? this.#broker.close(() => resolve()) : resolve()));
  }
}
