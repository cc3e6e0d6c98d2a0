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
import type { AgentAccounts } from './dynsec.ts';
import { EmbeddedTransport } from './embedded-transport.ts';
import type { AgentTransport } from './transport.ts';
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
          // The external broker's URL without its credentials (agents have their own).
          broker: () => ({ port: broker()?.port || null, tlsPort: null, url: config.mqttUrl ? config.mqttUrl.replace(/\/\/[^@/]*@/, '//') : null }),
        },
      };
    },
    async start(broker) {
      const logger = infra.logger.child({ part: 'agents' });
      let transport: AgentTransport = new EmbeddedTransport(() => broker?.aedes ?? null);
      let accounts: AgentAccounts | null = null;
      if (config.mqttUrl) {
        // Only an external broker needs these (loaded on demand: a site's start stays quick).
        transport = new (await import('./external-transport.ts')).ExternalTransport({ url: config.mqttUrl, logger });
        if (config.mqttDynsec) accounts = await (await import('./dynsec.ts')).DynsecAccounts.connect(config.mqttUrl, logger);
      }
      await hub.start(transport, accounts);
    },
    stop: () => hub.stop(),
  };
}
