/**
 * The agents part: edge agents link remote sites' printers over MQTT (docs/agent-protocol.md).
 * `createAgentsPart` registers the `agent` printer driver (before the fleet starts) and gives the
 * routes; `start` links to the embedded broker or to RWC_MQTT_URL.
 */
import type { Infra } from '../app-context.ts';
import type { AuthService } from '../auth/auth-service.ts';
import type { RouteModule } from '../http/app.ts';
import { agentDriverCapability } from './agent-driver.ts';
import { AgentHub, type FleetAccess } from './agent-hub.ts';
import { AgentsRepo } from './agents-repo.ts';
import type { AgentBroker } from './broker.ts';
import { type AgentAccounts, DynsecAccounts } from './dynsec.ts';
import { EmbeddedTransport } from './embedded-transport.ts';
import { ExternalTransport, redact } from './external-transport.ts';
import { agentRoutes } from './routes.ts';

export interface AgentsPart {
  hub: AgentHub;
  routes(fleet: FleetAccess, broker: () => AgentBroker | null): RouteModule;
  start(broker: AgentBroker | null): Promise<void>;
  stop(): Promise<void>;
}

export function createAgentsPart(infra: Infra, auth: AuthService): AgentsPart {
  const { config } = infra;
  const repo = new AgentsRepo(infra.storage.db);
  const hub = new AgentHub({
    repo,
    bus: infra.bus,
    clock: infra.clock,
    logger: infra.logger.child({ part: 'agents' }),
    commandTtlSeconds: config.agentCommandTtlSeconds,
    staleAfterSeconds: config.staleAfterSeconds,
  });
  infra.registry.register('printer-driver', 'agent', agentDriverCapability(hub));
  return {
    hub,
    routes: (fleet, broker) => {
      hub.setFleet(fleet);
      return {
        prefix: '/api/v1',
        plugin: agentRoutes,
        opts: {
          hub,
          repo,
          auth,
          bus: infra.bus,
          fleet,
          dataDir: config.dataDir,
          broker: () => ({ port: broker()?.port || null, tlsPort: null, url: config.mqttUrl ? redact(config.mqttUrl).replace(/\/\/[^@]*@/, '//') : null }),
        },
      };
    },
    async start(broker) {
      const logger = infra.logger.child({ part: 'agents' });
      const transport = config.mqttUrl ? new ExternalTransport({ url: config.mqttUrl, logger }) : new EmbeddedTransport(() => broker?.aedes ?? null);
      const accounts: AgentAccounts | null = config.mqttUrl && config.mqttDynsec ? await DynsecAccounts.connect(config.mqttUrl, logger) : null;
      await hub.start(transport, accounts);
    },
    stop: () => hub.stop(),
  };
}
