/**
 * /api/v1/agents: issue, list and revoke edge agents (admin), e-stop through an agent (operator),
 * and the two routes an agent key may use: who am I, and a job's file by sha256 (with Range, so a
 * dropped download resumes where it stopped).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AuthService } from '../auth/auth-service.ts';
import { AGENT_ROLE } from '../auth/roles.ts';
import { DomainError, badRequest, notFound } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import { ErrorSchema, IdParams, errorResponses } from '../http/schemas.ts';
import type { FleetAccess } from './agent-hub.ts';
import type { AgentHub } from './agent-hub.ts';
import type { AgentsRepo } from './agents-repo.ts';
import { parseByteRange } from './byte-range.ts';

export interface AgentRouteOptions {
  hub: AgentHub;
  repo: AgentsRepo;
  auth: AuthService;
  bus: EventBus;
  fleet: FleetAccess;
  dataDir: string;
  /** How agents reach the broker: the embedded one's port, or the external broker's URL (without password). */
  broker(): { port: number | null; tlsPort: number | null; url: string | null };
}

const AgentPrinter = Type.Object({
  agentPrinterId: Type.String(),
  name: Type.String(),
  driver: Type.String(),
  model: Type.Union([Type.String(), Type.Null()]),
  printerId: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([Type.String(), Type.Null()]),
});

const Agent = Type.Object({
  id: Type.String(),
  name: Type.String(),
  online: Type.Boolean(),
  live: Type.Boolean(),
  revoked: Type.Boolean(),
  createdAt: Type.String(),
  lastSeenAt: Type.Union([Type.String(), Type.Null()]),
  hostname: Type.Union([Type.String(), Type.Null()]),
  agentVersion: Type.Union([Type.String(), Type.Null()]),
  appliedSeq: Type.Integer(),
  pendingCommands: Type.Integer(),
  printers: Type.Array(AgentPrinter),
});

const apiKeyIdOf = (request: FastifyRequest): string => {
  const u = request.user as { id: string; apiKeyId?: string };
  return u.apiKeyId ?? u.id.replace(/^api-key:/, '');
};

export const agentRoutes: FastifyPluginAsync<AgentRouteOptions> = async (app, opts) => {
  const { hub, repo, auth, fleet } = opts;

  const serverPrinterOf = (agentId: string, agentPrinterId: string) =>
    fleet.list().find((p) => {
      if (p.summary.driver !== 'agent') return false;
      const c = fleet.publicConnection(p.summary.id);
      return c.agentId === agentId && c.printerId === agentPrinterId;
    });

  const present = (id: string) => {
    const a = hub.agent(id);
    if (!a) throw notFound('agent');
    const r = a.record;
    // Scale-out: a process that does not handle the agents knows their link only through the
    // states of their printers, which the handling process publishes.
    const mirrored = (r.info.printers ?? []).map((p) => serverPrinterOf(r.id, p.id)?.state);
    const linked = mirrored.some((st) => st && !st.stale && st.status !== 'offline' && st.status !== 'unknown');
    return {
      id: r.id,
      name: r.name,
      online: hub.active ? a.online : linked,
      live: hub.active ? a.live : linked,
      revoked: !!r.revokedAt,
      createdAt: r.createdAt,
      lastSeenAt: r.lastSeenAt,
      hostname: r.info.hostname ?? null,
      agentVersion: r.info.agentVersion ?? null,
      appliedSeq: r.lastSeq,
      pendingCommands: hub.outbox.openFor(r.id).length,
      printers: (r.info.printers ?? []).map((p) => {
        const sp = serverPrinterOf(r.id, p.id);
        return { agentPrinterId: p.id, name: p.name, driver: p.driver, model: p.model, printerId: sp?.summary.id ?? null, status: sp?.state.status ?? null };
      }),
    };
  };

  app.get('/agents', { schema: { response: { 200: Type.Array(Agent), ...errorResponses } } }, async () => {
    await hub.refreshPassive();
    return hub.sessions().map((s) => present(s.record.id));
  });

  app.get('/agents/:id', { schema: { params: IdParams, response: { 200: Agent, ...errorResponses } } }, async (request) => {
    await hub.refreshPassive();
    return present((request.params as { id: string }).id);
  });

  app.post(
    '/agents',
    {
      config: { role: 'admin' },
      schema: {
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: {
          201: Type.Object({
            id: Type.String(),
            name: Type.String(),
            role: Type.String(),
            key: Type.String(),
            mqttUrl: Type.Union([Type.String(), Type.Null()]),
            command: Type.String(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { name } = request.body as { name: string };
      // A device credential, not a person's: it is not tied to the admin who made it (revoke it here).
      const key = await auth.createApiKey(name, AGENT_ROLE, null);
      const record = { id: key.id, name, createdAt: key.createdAt, revokedAt: null, lastSeenAt: null, info: {}, journalId: null, lastSeq: 0 };
      try {
        await repo.insert({
          id: key.id,
          name,
          created_at: key.createdAt,
          created_by: request.user!.via === 'jwt' ? request.user!.id : null,
          revoked_at: null,
          last_seen_at: null,
          info_json: '{}',
          journal_id: null,
          last_seq: 0,
        });
        await hub.registerAgent(record, key.key);
      } catch (err) {
        await auth.deleteApiKey(key.id).catch(() => undefined);
        await repo.delete(key.id).catch(() => undefined);
        throw new DomainError('unavailable', 'agent_not_created', `the agent could not be created: ${(err as Error).message}`);
      }
      const b = opts.broker();
      const host = request.hostname.includes(':') && !request.hostname.startsWith('[') ? `[${request.hostname}]` : request.hostname;
      const mqttUrl = b.url ?? (b.tlsPort ? `mqtts://${host}:${b.tlsPort}` : b.port ? `mqtt://${host}:${b.port}` : null);
      const httpUrl = `${request.protocol}://${request.host}`;
      const command = `npx rwc-agent --server ${mqttUrl ?? 'mqtt://<broker>:1883'} --http ${httpUrl} --id ${key.id} --key ${key.key} --config agent.json`;
      return reply.status(201).send({ id: key.id, name, role: AGENT_ROLE, key: key.key, mqttUrl, command });
    },
  );

  app.delete('/agents/:id', { config: { role: 'admin' }, schema: { params: IdParams, response: { 204: Type.Null(), ...errorResponses } } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const a = hub.agent(id);
    if (!a) throw notFound('agent');
    if (!a.record.revokedAt) {
      // Deleting the key makes the broker refuse it from now on; auth.revoked closes its connection.
      await auth.deleteApiKey(id).catch((err) => {
        if (!(err instanceof DomainError && err.kind === 'not_found')) throw err;
      });
      await hub.markRevoked(id);
      request.server.log.info({ agent: a.record.name }, 'agent revoked');
      opts.bus.emit('auth.revoked', { apiKeyId: id, reason: 'agent revoked' });
    }
    return reply.status(204).send();
  });

  app.post(
    '/agents/:id/estop',
    {
      config: { role: 'operator' },
      schema: {
        params: IdParams,
        body: Type.Object({ printerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ status: Type.String(), message: Type.String() }),
          202: Type.Object({ status: Type.String(), message: Type.String() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { printerId } = (request.body ?? {}) as { printerId?: string };
      const a = hub.agent(id);
      if (!a) throw notFound('agent');
      if (a.record.revokedAt) throw new DomainError('conflict', 'agent_revoked', `agent "${a.record.name}" was revoked`);
      let agentPrinterId: string | null = null;
      if (printerId) {
        const byServerId = fleet.list().find((p) => p.summary.id === printerId);
        const c = byServerId ? fleet.publicConnection(printerId) : null;
        if (c && c.agentId === id) agentPrinterId = String(c.printerId);
        else if ((a.record.info.printers ?? []).some((p) => p.id === printerId)) agentPrinterId = printerId;
        else throw badRequest(`body.printerId: agent "${a.record.name}" has no printer ${printerId}`);
      }
      const done = hub.command({ agentId: id, printerId: agentPrinterId, kind: 'estop', args: {}, deadlineSeconds: 30 });
      // Answer within a few seconds: done, or still on its way (an offline agent gets it on return).
      const outcome = await Promise.race([
        done.then(
          () => ({ ok: true as const }),
          (err: Error) => ({ ok: false as const, err }),
        ),
        new Promise<null>((r) => setTimeout(() => r(null), 5000).unref()),
      ]);
      if (!outcome) {
        done.catch((err: Error) => request.server.log.warn({ agent: a.record.name, err: err.message }, 'agent e-stop failed'));
        return reply.status(202).send({ status: 'pending', message: a.online ? 'sent; the agent has not confirmed yet' : 'the agent is offline; it gets the e-stop first thing when it returns (or the e-stop expires)' });
      }
      if (!outcome.ok) throw new DomainError('conflict', (outcome.err as { code?: string }).code ?? 'estop_failed', outcome.err.message);
      return reply.status(200).send({ status: 'done', message: 'the agent stopped the printer(s)' });
    },
  );

  app.get(
    '/agents/self',
    { config: { role: AGENT_ROLE }, schema: { response: { 200: Type.Object({ id: Type.String(), name: Type.String() }), 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema } } },
    async (request) => {
      const id = apiKeyIdOf(request);
      const a = hub.agent(id);
      if (!a) throw notFound('agent');
      return { id, name: a.record.name };
    },
  );

  app.get(
    '/agents/files/:sha256',
    {
      config: { role: AGENT_ROLE },
      schema: {
        params: Type.Object({ sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        produces: ['application/octet-stream'],
        response: { ...errorResponses, 416: ErrorSchema },
      },
    },
    async (request, reply) => {
      const { sha256 } = request.params as { sha256: string };
      const agentId = apiKeyIdOf(request);
      // Only files of jobs sent to this agent: an agent key is not a way to read the library.
      if (!(await repo.agentMayFetch(agentId, sha256))) throw notFound('file');
      const stored = await repo.storedPathOf(sha256);
      if (!stored) throw notFound('file');
      const file = path.resolve(opts.dataDir, stored.path);
      if (!file.startsWith(path.resolve(opts.dataDir) + path.sep)) throw notFound('file');
      const size = (await fs.promises.stat(file).catch(() => null))?.size;
      if (size === undefined) throw notFound('file');
      reply.header('Accept-Ranges', 'bytes').header('ETag', `"${sha256}"`);
      const range = parseByteRange(request.headers.range, size);
      if (range === 'unsatisfiable') {
        return reply
          .status(416)
          .header('Content-Range', `bytes */${size}`)
          .type('application/json')
          .send({ error: { code: 'range_not_satisfiable', message: `the file has ${size} bytes` } });
      }
      reply.type('application/octet-stream');
      if (!range) return reply.header('Content-Length', String(size)).send(fs.createReadStream(file));
      return reply
        .status(206)
        .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`)
        .header('Content-Length', String(range.end - range.start + 1))
        .send(fs.createReadStream(file, { start: range.start, end: range.end }));
    },
  );
};
