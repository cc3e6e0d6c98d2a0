import fs from 'node:fs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import path from 'node:path';
import zlib from 'node:zlib';
import compress from '@fastify/compress';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import helmet from '@fastify/helmet';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { AuthService } from '../auth/auth-service.ts';
import type { LoginRateLimiter } from '../auth/rate-limit.ts';
import type { Logger } from '../util/logger.ts';
import { installAuth } from './auth-hook.ts';
import { DomainError, badRequest } from '../errors.ts';
import { httpStatusOf, storageErrorOf } from './errors.ts';
import { type HttpServerLimits, clientErrorHandler, createGatedServer, markFastifyUpgradeListeners } from './http-server.ts';
import { installBodyGuards, jsonDepthExceeds, securityHeaders } from './guards.ts';
import { authRoutes } from './routes/auth.ts';
import { systemRoutes } from './routes/system.ts';

export interface RouteModule {
  prefix: string;
  plugin: FastifyPluginAsync<any>;
  opts?: any;
}

export interface AppOptions {
  logger: Logger;
  auth: AuthService;
  rateLimiter: LoginRateLimiter;
  version: string;
  maxUploadBytes: number;
  /** Built web UI to serve at `/`, if present. */
  webDist?: string | null;
  routes: RouteModule[];
  /** Slow-loris limits of the HTTP server (defaults: headers 20 s, request 1 h, keep-alive 72 s). */
  limits?: Partial<HttpServerLimits> & { bodyTimeoutMs?: number };
}

/** Builds the Fastify app without listening (tests may call inject()). */
export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const limits: HttpServerLimits = {
    headersTimeoutMs: opts.limits?.headersTimeoutMs ?? 20_000,
    requestTimeoutMs: opts.limits?.requestTimeoutMs ?? 3_600_000,
    keepAliveTimeoutMs: opts.limits?.keepAliveTimeoutMs ?? 72_000,
  };
  const app: FastifyInstance = Fastify({
    // Our own http.Server: request targets are made canonical (or refused) before Fastify, the
    // WebSocket upgrade or a Socket.IO server sees them, and slow clients time out (http-server.ts).
    serverFactory: (handler) => createGatedServer(handler, limits),
    clientErrorHandler,
    loggerInstance: opts.logger.child({ part: 'http' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Long ids reach the schema (a 400 naming the field) instead of the router's bare 414.
    routerOptions: { maxParamLength: 1000 },
    // Errors the router raises before any route runs (bad percent-encoding, a path param over
    // maxParamLength) get the same error shape as every other answer.
    frameworkErrors: (err, _request, reply: FastifyReply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : err.code === 'FST_ERR_BAD_URL' ? 400 : 500;
      const code = status === 414 ? 'uri_too_long' : status === 400 ? 'bad_url' : 'internal_error';
      return reply.status(status).send({ error: { code, message: err.message || 'the request URL is invalid' } });
    },
  });
  // Query strings and path params are text, so those are coerced ("5" → 5); JSON bodies are not:
  // a number sent where a string belongs is a client bug and gets a 400.
  const coercing = new Ajv({ coerceTypes: 'array', useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  const strictAjv = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
  // ajv-formats is CommonJS: its function sits on .default under NodeNext interop.
  const addFormats = ((addFormatsModule as any).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;
  for (const a of [coercing, strictAjv]) addFormats(a);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strictAjv : coercing).compile(schema),
  );

  // Many clients send "Content-Type: application/json" on a request without a body (POST
  // /queue/start, DELETE …): that is no body, not an error. Fastify's own parser (with its
  // prototype-poisoning guard) handles every non-empty body.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(null, undefined);
    // A deeply nested body (thousands of levels) would make every recursive consumer (validation,
    // JSON.stringify, structuredClone) throw: refuse it before parsing.
    if (jsonDepthExceeds(text, 64)) {
      return done(badRequest('body is nested too deeply (64 levels at most)', 'too_deep'), undefined);
    }
    return jsonParser(request, text, done);
  });

  const webReady = !!opts.webDist && fs.existsSync(path.join(opts.webDist, 'index.html'));
  app.setErrorHandler((err: any, request, reply) => {
    const storage = storageErrorOf(err);
    if (storage) {
      request.log.warn({ err: err?.message, code: err?.code }, storage.message);
      if (storage.status === 503) reply.header('Retry-After', '5');
      return reply.status(storage.status).send({ error: { code: storage.code, message: storage.message } });
    }
    if (err instanceof DomainError) {
      // params: the values a translated message needs (limits, names), beside the stable code.
      const params = err.params && Object.keys(err.params).length ? { params: err.params } : {};
      return reply.status(httpStatusOf(err)).send({ error: { code: err.code, message: err.message, ...params } });
    }
    if (err.validation) {
      const v = err.validation[0];
      const where = err.validationContext ?? 'body';
      const field = v?.params?.missingProperty
        ? `${where}.${[v.instancePath.replace(/^\//, '').replace(/\//g, '.'), v.params.missingProperty].filter(Boolean).join('.')}`
        : `${where}${v?.instancePath ? v.instancePath.replace(/\//g, '.') : ''}`;
      let what = v?.params?.missingProperty ? 'is required' : (v?.message ?? 'is invalid');
      let named = field;
      if (v?.params?.additionalProperty) {
        // Name the unknown field itself, not only the object that holds it.
        named = `${field}.${v.params.additionalProperty}`;
        what = 'is not a known field';
      } else if (v?.keyword === 'const') {
        // A union of literals fails once per literal: list them all as the allowed values.
        const allowed = err.validation
          .filter((e: any) => e.keyword === 'const' && e.instancePath === v.instancePath)
          .map((e: any) => JSON.stringify(e.params.allowedValue));
        what = `must be one of ${allowed.join(', ')}`;
      }
      return reply
        .status(400)
        .send({ error: { code: 'validation_error', message: `${named} ${what}`, field: named } });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    if (status === 413 || err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ error: { code: 'too_large', message: err.message || 'request body is too large' } });
    }
    if (status >= 500) {
      request.log.error({ err }, 'request failed');
      return reply.status(status).send({ error: { code: 'internal_error', message: 'internal error; see the server log' } });
    }
    const code = String(err.code ?? 'bad_request')
      .toLowerCase()
      .replace(/^fst_err_/, '')
      .replace(/[^a-z0-9_]/g, '_');
    return reply.status(status).send({ error: { code, message: err.message } });
  });

  app.setNotFoundHandler((request, reply) => {
    const isApi = request.url === '/api' || request.url.startsWith('/api/') || request.url.startsWith('/api?');
    if (!isApi && (request.method === 'GET' || request.method === 'HEAD') && webReady) {
      // The SPA handles its own routes (history mode).
      return reply.type('text/html').header('Cache-Control', 'no-cache').send(fs.createReadStream(path.join(opts.webDist!, 'index.html')));
    }
    return reply
      .status(404)
      .send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  // Group the OpenAPI document by resource (/api/v1/<resource>/…), so /api/docs reads like the API.
  app.addHook('onRoute', (route) => {
    const m = /^\/api\/(?:v1\/)?([a-z-]+)/.exec(route.url);
    if (!m || !route.schema || (route.schema as { hide?: boolean }).hide) return;
    const schema = route.schema as { tags?: string[] };
    schema.tags ??= [route.url.startsWith('/api/v1/') ? m[1]! : 'octoprint-compatible'];
  });

  // Security headers first, so every answer carries them (errors from the auth hook too).
  await app.register(helmet, securityHeaders());
  // gzip/brotli for the API's JSON and the UI's files (a dashboard's first load and its lists are
  // mostly text). Brotli at quality 4: most of the gain of 11 at a small part of its CPU. Images and
  // archives are left alone (mime-db says they are not compressible).
  await app.register(compress, {
    global: true,
    threshold: 1024,
    encodings: ['br', 'gzip', 'deflate'],
    brotliOptions: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } },
    zlibOptions: { level: 6 },
  });
  // Before the auth hook: its onRequest marks upgrade requests, so a refused upgrade's socket is closed.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  markFastifyUpgradeListeners(app.server);
  // Authentication before anything else can register a route: every route, the docs and the UI
  // included, passes the hook (deny by default; see auth-hook.ts).
  installAuth(app, opts.auth, { spaFallback: webReady });
  installBodyGuards(app, { maxUploadBytes: opts.maxUploadBytes, bodyTimeoutMs: opts.limits?.bodyTimeoutMs ?? 30_000 });
  // Routes registered by the docs and static plugins are public; nothing else is (config.role).
  const publicScope = (register: (scope: FastifyInstance) => Promise<void>) =>
    app.register(async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.config = { ...(route.config ?? {}), role: 'public' };
      });
      await register(scope);
    });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'RealWorldClaw API', version: opts.version, description: 'Print-farm control plane, API v1' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  });
  await publicScope(async (scope) => {
    await scope.register(swaggerUi, { routePrefix: '/api/docs', uiConfig: { validatorUrl: null } });
  });
  await app.register(multipart, { limits: { fileSize: opts.maxUploadBytes, files: 1, fields: 20 } });

  rejectNulCharacters(app);

  app.get('/api/v1/openapi.json', { schema: { hide: true }, config: { role: 'public' } }, async () => app.swagger());
  await app.register(systemRoutes, { prefix: '/api/v1', auth: opts.auth, version: opts.version });
  await app.register(authRoutes, { prefix: '/api/v1', auth: opts.auth, rateLimiter: opts.rateLimiter });
  for (const m of opts.routes) await app.register(m.plugin, { prefix: m.prefix, ...(m.opts ?? {}) });

  if (webReady) {
    await publicScope(async (scope) => {
      await scope.register(fastifyStatic, {
        root: opts.webDist!,
        wildcard: false,
        // Hashed assets never change; index.html must be re-read after an upgrade.
        // @fastify/static 9 hands over the raw response (9 is the line whose dependencies support Node 20).
        setHeaders: (res, file) =>
          res.setHeader('Cache-Control', file.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable'),
      });
    });
  }
  return app;
}

/** Where in a parsed value the first string holding a NUL character sits (e.g. "name"), or null. */
function nulPath(v: unknown, at: string, depth = 0): string | null {
  if (typeof v === 'string') return v.includes('\u0000') ? at : null;
  if (depth > 32 || !v || typeof v !== 'object') return null;
  for (const [k, x] of Object.entries(v)) {
    if (k.includes('\u0000')) return at;
    const found = nulPath(x, at ? `${at}.${k}` : k, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * A NUL character is never meaningful in this API's text, and PostgreSQL refuses it in a text
 * value (the query would fail as a 500): refuse it up front as a 400 naming the field.
 */
function rejectNulCharacters(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    for (const [where, value] of [
      ['params', request.params],
      ['querystring', request.query],
      ['body', request.body],
    ] as const) {
      const found = nulPath(value, '');
      if (found !== null) {
        const field = found ? `${where}.${found}` : where;
        throw badRequest(`${field} must not contain NUL (\\u0000) characters`);
      }
    }
  });
}
