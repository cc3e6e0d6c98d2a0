/**
 * The agent's id is its API key's id (the MQTT topics are named by it). Given with --id, or asked
 * from the server once (`GET /api/v1/agents/self` with the key) and remembered in the data dir, so
 * an agent restarted while the site is offline still knows who it is.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AGENT_ID_PATTERN } from '@rwc/server/agents/protocol.ts';
import type { Logger } from '@rwc/server/util/logger.ts';
import { writeAtomic } from './journal.ts';

export async function resolveAgentId(o: {
  dataDir: string;
  key: string;
  agentId?: string;
  http: string;
  logger: Logger;
  stopped(): boolean;
}): Promise<string | null> {
  const file = path.join(o.dataDir, 'identity.json');
  const keyHash = crypto.createHash('sha256').update(o.key).digest('hex');
  if (o.agentId) {
    if (!AGENT_ID_PATTERN.test(o.agentId)) throw new Error(`--id "${o.agentId}" is not an agent id`);
    writeAtomic(file, JSON.stringify({ keyHash, agentId: o.agentId }));
    return o.agentId;
  }
  try {
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { keyHash?: string; agentId?: string };
    if (saved.keyHash === keyHash && typeof saved.agentId === 'string' && AGENT_ID_PATTERN.test(saved.agentId)) return saved.agentId;
  } catch {}
  for (let attempt = 0; !o.stopped(); attempt++) {
    try {
      const res = await fetch(`${o.http.replace(/\/$/, '')}/api/v1/agents/self`, { headers: { 'x-api-key': o.key } });
      if (res.ok) {
        const body = (await res.json()) as { id?: string };
        if (typeof body.id === 'string' && AGENT_ID_PATTERN.test(body.id)) {
          writeAtomic(file, JSON.stringify({ keyHash, agentId: body.id }));
          return body.id;
        }
      }
      o.logger.error({ status: res.status }, 'the server does not know this agent key; is it an agent key (POST /api/v1/agents)?');
    } catch (err) {
      o.logger.warn({ err: (err as Error).message, http: o.http }, 'cannot ask the server who this agent is yet; retrying');
    }
    await new Promise((r) => setTimeout(r, Math.min(60_000, 2000 * 2 ** Math.min(attempt, 5))));
  }
  return null;
}
