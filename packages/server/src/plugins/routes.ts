/**
 * Plugin HTTP routes (docs/api.md, Additions: Plugins), registered under /api/v1. Changes (install,
 * remove, enable, disable, reload, config, logs) need admin; running an entry or cancelling a run
 * needs operator; reading needs viewer.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type {} from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest } from '../errors.ts';
import { ErrorSchema, errorResponses } from '../http/schemas.ts';
import type { PluginHost } from './host.ts';
import type { RecordTopic } from './plugin-repo.ts';

const tags = ['plugins'];
const Id = Type.String({ minLength: 1, maxLength: 100 });
const PluginParams = Type.Object({ id: Id });
const EntryParams = Type.Object({ id: Id, entry: Type.String({ minLength: 1, maxLength: 200 }) });
const RunParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
const Nullable = (t: any) => Type.Union([t, Type.Null()]);

const PluginSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    version: Type.String(),
    description: Type.String(),
    state: Type.String({ description: 'running, starting, stopped, crashed, disabled or failed' }),
    reason: Nullable(Type.String()),
    enabled: Type.Boolean(),
    source: Type.String({ description: 'builtin, folder, installed or npm' }),
    runtime: Type.String(),
    provides: Type.Array(Type.String()),
    requires: Type.Array(Type.String()),
    dependencies: Type.Array(Type.Unknown()),
    entries: Type.Array(Type.Unknown()),
    timers: Type.Array(Type.Unknown()),
    subscriptions: Type.Array(Type.String()),
    printerDrivers: Type.Array(Type.String()),
    health: Type.Unknown(),
    metrics: Type.Unknown(),
    limits: Type.Unknown(),
    hasConfig: Type.Boolean(),
  },
  { additionalProperties: true },
);

const RunSchema = Type.Object({
  id: Type.String(),
  pluginId: Type.String(),
  entry: Type.String(),
  trigger: Type.String(),
  status: Type.String({ description: 'queued, running, succeeded, failed or cancelled' }),
  progress: Nullable(Type.Number()),
  stage: Nullable(Type.String()),
  message: Nullable(Type.String()),
  metrics: Type.Unknown(),
  exports: Type.Array(Type.Unknown()),
  result: Type.Unknown(),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
  parentRunId: Nullable(Type.String()),
  createdAt: Type.String(),
  startedAt: Nullable(Type.String()),
  endedAt: Nullable(Type.String()),
});

const ConfigSchema = Type.Object({
  config: Type.Record(Type.String(), Type.Unknown()),
  schema: Type.Unknown(),
  secrets: Type.Record(Type.String(), Type.Boolean(), { description: 'secret fields: whether each is set (values are never returned)' }),
});

const RecordSchema = Type.Object({ id: Type.Number(), pluginId: Type.String(), topic: Type.String(), type: Type.String(), data: Type.Unknown(), at: Type.String() });
const RecordQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  type: Type.Optional(Type.String({ maxLength: 100 })),
  since: Type.Optional(Type.String({ maxLength: 40 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
});

const admin = { role: 'admin' as const };
const operator = { role: 'operator' as const };

async function install(host: PluginHost, request: FastifyRequest) {
  if (request.isMultipart()) {
    const part = await request.file().catch((err: Error) => {
      throw badRequest(`file: the multipart/form-data body is malformed (${err.message})`, 'malformed_multipart');
    });
    if (!part) throw badRequest('file: the multipart body has no file; put the .tgz in the field "file"');
    if (part.fieldname !== 'file') {
      part.file.resume();
      throw badRequest(`file: the archive must be in the field "file", not "${part.fieldname}"`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-upload-'));
    const file = path.join(dir, 'plugin.tgz');
    try {
      await pipeline(part.file, fs.createWriteStream(file));
      if ((part.file as { truncated?: boolean }).truncated) throw badRequest('file: the archive is larger than the upload limit', 'too_large');
      return await host.installFromTgz(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const body = request.body as { path?: unknown } | undefined;
  if (!body || typeof body !== 'object' || typeof body.path !== 'string' || !body.path) {
    throw badRequest('path: send {"path": "<plugin folder on the server>"} or a multipart .tgz in the field "file"', 'validation_error', { field: 'path' });
  }
  return host.installFromFolder(body.path);
}

export async function pluginRoutes(app: FastifyInstance, opts: { host: PluginHost }): Promise<void> {
  const { host } = opts;
  // Followed log streams stay open until the client leaves; a server shutdown ends them. preClose,
  // not onClose: the HTTP server's close waits for open answers, so onClose would come too late.
  const followers = new Set<import('node:http').ServerResponse>();
  app.addHook('preClose', async () => {
    for (const res of followers) res.destroy();
  });

  app.get('/plugins', { schema: { tags, summary: 'Plugins with state, health and metrics', response: { 200: Type.Array(PluginSchema), ...errorResponses } } }, async () =>
    host.list(),
  );

  app.post(
    '/plugins',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Install a plugin from a folder on the server ({"path"}) or a multipart .tgz (field "file")',
        consumes: ['application/json', 'multipart/form-data'],
        response: { 201: PluginSchema, ...errorResponses, 413: ErrorSchema },
      },
    },
    async (request, reply) => reply.status(201).send(await install(host, request)),
  );

  app.get('/plugins/:id', { schema: { tags, params: PluginParams, response: { 200: PluginSchema, ...errorResponses } } }, async (request) =>
    host.view((request.params as { id: string }).id),
  );

  app.delete('/plugins/:id', { config: admin, schema: { tags, summary: 'Remove an installed plugin', params: PluginParams, response: { 204: Type.Null(), ...errorResponses } } }, async (request, reply) => {
    await host.uninstall((request.params as { id: string }).id);
    return reply.status(204).send();
  });

  for (const action of ['enable', 'disable', 'reload'] as const) {
    app.post(`/plugins/:id/${action}`, { config: admin, schema: { tags, params: PluginParams, response: { 200: PluginSchema, ...errorResponses } } }, async (request) =>
      host[action]((request.params as { id: string }).id),
    );
  }

  app.get('/plugins/:id/config', { config: admin, schema: { tags, params: PluginParams, response: { 200: ConfigSchema, ...errorResponses } } }, async (request) =>
    host.getConfig((request.params as { id: string }).id),
  );

  app.put(
    '/plugins/:id/config',
    {
      config: admin,
      schema: {
        tags,
        summary: "Replace the config (validated against the plugin's schema; a secret left out keeps its value, null clears it)",
        params: PluginParams,
        body: Type.Record(Type.String(), Type.Unknown()),
        response: { 200: ConfigSchema, ...errorResponses },
      },
    },
    async (request) => host.putConfig((request.params as { id: string }).id, request.body),
  );

  app.post(
    '/plugins/:id/entries/:entry',
    {
      config: operator,
      schema: { tags, summary: "Call an entry with its arguments: a run", params: EntryParams, response: { 202: Type.Object({ runId: Type.String() }), ...errorResponses } },
    },
    async (request, reply) => {
      const { id, entry } = request.params as { id: string; entry: string };
      return reply.status(202).send(host.startRun(id, entry, request.body ?? {}));
    },
  );

  app.get(
    '/plugins/:id/runs',
    {
      schema: {
        tags,
        params: PluginParams,
        querystring: Type.Object({ status: Type.Optional(Type.String({ maxLength: 20 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: Type.Array(RunSchema), ...errorResponses },
      },
    },
    async (request) => host.listRuns((request.params as { id: string }).id, request.query as { status?: string; limit?: number }),
  );

  app.get('/runs/:id', { schema: { tags, params: RunParams, response: { 200: RunSchema, ...errorResponses } } }, async (request) =>
    host.getRun((request.params as { id: string }).id),
  );

  app.post('/runs/:id/cancel', { config: operator, schema: { tags, params: RunParams, response: { 200: RunSchema, ...errorResponses } } }, async (request) =>
    host.cancelRun((request.params as { id: string }).id),
  );

  for (const topic of ['messages', 'events', 'lifecycle'] as RecordTopic[]) {
    app.get(
      `/plugins/:id/${topic}`,
      { schema: { tags, summary: `The plugin's recent ${topic}, newest first`, params: PluginParams, querystring: RecordQuery, response: { 200: Type.Array(RecordSchema), ...errorResponses } } },
      async (request) => host.records((request.params as { id: string }).id, topic, request.query as { limit?: number }),
    );
  }

  app.get(
    '/plugins/:id/logs',
    {
      config: admin,
      schema: {
        tags,
        summary: 'The last log lines; with follow=true the answer stays open and streams new lines (NDJSON)',
        params: PluginParams,
        querystring: Type.Object({ tail: Type.Optional(Type.Integer({ minimum: 0, maximum: 5000 })), follow: Type.Optional(Type.Boolean()) }),
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const q = request.query as { tail?: number; follow?: boolean };
      host.view(id);
      const lines = host.logs.tail(id, q.tail ?? 200);
      if (!q.follow) return { lines };
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
      for (const l of lines) res.write(`${JSON.stringify(l)}\n`);
      const onLine = (l: unknown) => {
        if (!res.write(`${JSON.stringify(l)}\n`) && res.writableLength > 1024 * 1024) res.destroy();
      };
      host.logs.follow.on(id, onLine);
      followers.add(res);
      const keepAlive = setInterval(() => res.write('\n'), 15_000);
      await once(res, 'close');
      clearInterval(keepAlive);
      followers.delete(res);
      host.logs.follow.off(id, onLine);
    },
  );
}
