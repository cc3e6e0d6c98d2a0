/**
 * Agent accounts on an external Mosquitto through its dynamic-security plugin (RWC_MQTT_DYNSEC=1):
 * the broker itself then authenticates each agent (username = agent id, password = its key), keeps
 * it to its own topics, binds it to its client id, and — when the agent is revoked — drops its
 * connection and refuses it from then on ("deleteClient" kicks the client). The server's broker user
 * must be the dynsec admin (`mosquitto_ctrl dynsec init …`).
 * Protocol: JSON commands on `$CONTROL/dynamic-security/v1`, answers on `…/v1/response`
 * (mosquitto.org/documentation/dynamic-security).
 */
import crypto from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../util/logger.ts';

const CONTROL = '$CONTROL/dynamic-security/v1';
const SERVER_ROLE = 'rwc-server';

/** Broker accounts of agents, for brokers that do not ask the server (the embedded one does). */
export interface AgentAccounts {
  add(agentId: string, key: string): Promise<void>;
  remove(agentId: string): Promise<void>;
  close(): Promise<void>;
}

type Command = Record<string, unknown> & { command: string };

export class DynsecAccounts implements AgentAccounts {
  #client: MqttClient;
  #pending = new Map<string, { resolve(v: { error?: string; data?: unknown }): void; timer: NodeJS.Timeout }>();

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', (_topic, payload) => {
      let body: { responses?: Array<{ correlationData?: string; error?: string; data?: unknown }> };
      try {
        body = JSON.parse(payload.toString());
      } catch {
        return;
      }
      for (const r of body.responses ?? []) {
        const p = r.correlationData ? this.#pending.get(r.correlationData) : undefined;
        if (!p) continue;
        this.#pending.delete(r.correlationData!);
        clearTimeout(p.timer);
        p.resolve(r);
      }
    });
  }

  /** Connects as the dynsec admin (the server's broker user) and gives that user the server's topics. */
  static async connect(url: string, logger: Logger): Promise<DynsecAccounts> {
    // No retries while starting: a broker that is not there is a clear start-up error, not a hang.
    const client = await mqtt.connectAsync(url, { clientId: `rwc-dynsec-${crypto.randomBytes(6).toString('hex')}`, clean: true, reconnectPeriod: 2000, connectTimeout: 10_000 }, false);
    await client.subscribeAsync(`${CONTROL}/response`, { qos: 1 });
    const acc = new DynsecAccounts(client);
    const username = decodeURIComponent(new URL(url).username);
    if (!username) throw new Error('RWC_MQTT_DYNSEC needs the dynsec admin user in RWC_MQTT_URL (mqtt://admin:password@host:1883)');
    await acc.#run({
      command: 'createRole',
      rolename: SERVER_ROLE,
      acls: [
        { acltype: 'publishClientSend', topic: 'rwc/agents/+/down/#', allow: true },
        { acltype: 'subscribePattern', topic: 'rwc/agents/+/up/#', allow: true },
        { acltype: 'publishClientReceive', topic: 'rwc/agents/+/up/#', allow: true },
      ],
    }, ['already exists']);
    await acc.#ensureRole(username, SERVER_ROLE);
    logger.info({ username }, 'agent accounts are kept in the broker (Mosquitto dynamic security)');
    return acc;
  }

  /**
   * Gives `username` a role. Changing a client's roles makes Mosquitto drop that client's connections
   * (this one among them), so the answer may never come: check, ask, then check again after the
   * reconnect.
   */
  async #ensureRole(username: string, rolename: string): Promise<void> {
    const has = async () => {
      const r = await this.#request({ command: 'getClient', username }, 3000);
      return ((r.data as { client?: { roles?: Array<{ rolename: string }> } })?.client?.roles ?? []).some((x) => x.rolename === rolename);
    };
    if (await has()) return;
    this.#client.publish(CONTROL, JSON.stringify({ commands: [{ command: 'addClientRole', username, rolename }] }), { qos: 1 });
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 500));
      if (await has().catch(() => false)) return;
    }
    throw new Error(`could not give the broker user "${username}" the ${rolename} role`);
  }

  /** One command; an error whose text contains one of `tolerate` counts as done (idempotent setup). */
  async #run(cmd: Command, tolerate: string[] = []): Promise<void> {
    const answer = await this.#request(cmd);
    if (answer.error && !tolerate.some((t) => answer.error!.toLowerCase().includes(t.toLowerCase()))) {
      throw new Error(`broker ${cmd.command}: ${answer.error}`);
    }
  }

  #request(cmd: Command, timeoutMs = 10_000): Promise<{ error?: string; data?: unknown }> {
    const id = crypto.randomUUID();
    return new Promise<{ error?: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`the broker did not answer ${cmd.command} (is the dynamic-security plugin loaded and the user its admin?)`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, timer });
      this.#client.publish(CONTROL, JSON.stringify({ commands: [{ ...cmd, correlationData: id }] }), { qos: 1 });
    });
  }

  async add(agentId: string, key: string): Promise<void> {
    const rolename = `rwc-agent-${agentId}`;
    await this.#run({
      command: 'createRole',
      rolename,
      acls: [
        { acltype: 'publishClientSend', topic: `rwc/agents/${agentId}/up/#`, allow: true },
        { acltype: 'subscribePattern', topic: `rwc/agents/${agentId}/down/#`, allow: true },
        { acltype: 'publishClientReceive', topic: `rwc/agents/${agentId}/down/#`, allow: true },
      ],
    }, ['already exists']);
    await this.#run({ command: 'createClient', username: agentId, password: key, clientid: `rwc-agent-${agentId}`, roles: [{ rolename }] });
  }

  async remove(agentId: string): Promise<void> {
    // Deleting the client disconnects it at once and refuses it from then on.
    await this.#run({ command: 'deleteClient', username: agentId }, ['not found']);
    await this.#run({ command: 'deleteRole', rolename: `rwc-agent-${agentId}` }, ['not found']);
  }

  async close(): Promise<void> {
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    await this.#client.endAsync(true);
  }
}
