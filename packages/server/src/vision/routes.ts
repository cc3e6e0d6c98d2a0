/**
 * AI monitoring HTTP routes (docs/api.md Additions, "AI monitoring"; seed 002 §4), registered
 * under /api/v1. Seed paths and bodies as written; our own routes under /ai/printers, /ai/frames,
 * /ai/detectors. Auth is central (http/auth-hook.ts); the only routes without a user credential
 * are the ones a detector service calls, and they demand the task's own credential instead.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError, badRequest, conflict, notFound, unauthorized } from '../errors.ts';
import { DriverError } from '../printers/driver.ts';
import type { FleetPrinter, FleetView } from '../printers/fleet-types.ts';
import { errorResponses } from '../http/schemas.ts';
import type { Logger } from '../util/logger.ts';
import type { DetectorHub } from './detectors/hub.ts';
import type { FrameStore } from './frame-store.ts';
import type { VisionMonitor } from './monitor.ts';
import { analyseForCallback, deliverCallback } from './predict-service.ts';
import { seedResult } from './present.ts';
import { defaultRuleParams } from './rule.ts';
import { takeSnapshot } from './snapshots.ts';
import type { SeedCallbackBody, TaskBroker } from './tasks.ts';
import type { CapabilityRegistry } from '../registry/capabilities.ts';

export interface VisionRouteOptions {
  fleet: FleetView;
  monitor: VisionMonitor;
  frames: FrameStore;
  tasks: TaskBroker;
  detectors: DetectorHub;
  registry: CapabilityRegistry;
  logger: Logger;
  now: () => number;
}

const Seed = Type.Object({ status: Type.String(), message: Type.String() }, { additionalProperties: true });
const Any = Type.Object({}, { additionalProperties: true });
const PrinterQuery = Type.Object({ printerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) });
const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const jpeg = { produces: ['image/jpeg'], response: errorResponses };

/** Seed endpoints act on `printerId`, or on the only printer; otherwise 400 listing the choices. */
export function resolvePrinter(fleet: FleetView, printerId: string | undefined): FleetPrinter {
  if (printerId) {
    const p = fleet.get(printerId);
    if (!p) throw notFound('printer', 'not_found', { printerId });
    return p;
  }
  const all = fleet.list();
  if (all.length === 1) return all[0]!;
  if (all.length === 0) throw notFound('printer (none is configured)', 'no_printers');
  const choices = all.map((p) => `${p.summary.id} (${p.summary.name})`).join(', ');
  throw badRequest(`printerId is required when there are several printers; one of: ${choices}`, 'printer_id_required', {
    printers: all.map((p) => ({ id: p.summary.id, name: p.summary.name })),
  });
}

const hhmmss = (s: number | null) => {
  if (s === null || !Number.isFinite(s) || s < 0) return null;
  const t = Math.round(s);
  return [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60].map((v) => String(v).padStart(2, '0')).join(':');
};

function origin(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? 'localhost'}`;
}

function taskCredential(request: FastifyRequest): { token?: string; signature?: string } {
  const q = (request.query as { token?: unknown } | undefined)?.token;
  const auth = request.headers.authorization;
  const sig = request.headers['x-rwc-signature'];
  return {
    token: typeof q === 'string' && q ? q : auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined,
    signature: typeof sig === 'string' && sig ? sig : undefined,
  };
}

export async function visionRoutes(app: FastifyInstance, opts: VisionRouteOptions): Promise<void> {
  const { fleet, monitor, frames, tasks, detectors } = opts;

  // ---- seed 002 §4.1: take a picture (and check it) ----
  app.post(
    '/camera/snapshot',
    {
      schema: {
        body: Type.Optional(
          Type.Object(
            {
              printerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              camera_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            },
            { additionalProperties: false },
          ),
        ),
        response: { 200: Seed, ...errorResponses },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as { printerId?: string; camera_id?: string };
      const p = resolvePrinter(fleet, body.printerId);
      const source = body.camera_id ?? monitor.settings(p.summary.id).snapshotSource;
      const shot = await takeSnapshot(opts.registry, p.summary.id, source);
      const frame = await frames.save(shot.jpeg, p.summary.id);
      // Seed §3 step 2: the picture goes on to analysis; the result lands in /ai/analysis/latest.
      void monitor
        .analyse(p.summary.id, 'manual', frame)
        .catch((err) => opts.logger.warn({ err }, 'AI check after snapshot failed'));
      return {
        status: 'success',
        message: 'Image captured and uploaded successfully.',
        image_url: `${origin(request)}/api/v1/ai/frames/${frame.id}`,
        printerId: p.summary.id,
        frameId: frame.id,
        camera: shot.source,
      };
    },
  );

  app.get('/ai/frames/:id', { schema: { params: IdParams, ...jpeg } }, async (request, reply) => {
    const found = await frames.get((request.params as { id: string }).id);
    if (!found) throw notFound('frame (it may have expired under the retention limit)', 'frame_not_found');
    return reply.type('image/jpeg').header('Cache-Control', 'private, max-age=86400').send(found.jpeg);
  });

  // ---- for detector services: the task's frame and the callback (task credential, not a user) ----
  const needTaskCredential = async (request: FastifyRequest) => {
    const c = taskCredential(request);
    if (!c.token && !c.signature)
      throw unauthorized('this route needs the credential issued for its task (?token=, Bearer or X-RWC-Signature)');
  };
  app.get(
    '/ai/tasks/:id/image.jpg',
    {
      config: { role: 'public' },
      onRequest: needTaskCredential,
      schema: {
        params: IdParams,
        querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 200 })) }),
        ...jpeg,
      },
    },
    async (request, reply) => {
      const image = tasks.image((request.params as { id: string }).id, taskCredential(request).token);
      return reply.type('image/jpeg').header('Cache-Control', 'no-store').send(image);
    },
  );

  await app.register(async (scope) => {
    // The raw body is kept so an HMAC signature over exactly those bytes can be checked.
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, text, done) => {
      (request as FastifyRequest & { rawBody?: string }).rawBody = text as string;
      try {
        done(null, (text as string).length ? JSON.parse(text as string) : undefined);
      } catch {
        done(badRequest('the body is not valid JSON', 'invalid_json'), undefined);
      }
    });
    scope.post(
      '/ai/callback',
      {
        config: { role: 'public' },
        onRequest: needTaskCredential,
        schema: {
          querystring: Type.Object({ token: Type.Optional(Type.String({ maxLength: 200 })) }),
          body: Any,
          response: { 200: Seed, ...errorResponses },
        },
      },
      async (request) => {
        const cred = taskCredential(request);
        await tasks.callback(request.body as SeedCallbackBody, {
          ...cred,
          rawBody: (request as FastifyRequest & { rawBody?: string }).rawBody,
        });
        return { status: 'success', message: 'Callback received and processed.' };
      },
    );
  });

  // ---- seed 002 §4.2 offered: the local detector as an asynchronous service ----
  app.post(
    '/predict',
    {
      schema: {
        body: Type.Object(
          {
            image_url: Type.String({ minLength: 1, maxLength: 4000 }),
            task_id: Type.String({ minLength: 1, maxLength: 200 }),
            callback_url: Type.String({ minLength: 1, maxLength: 4000 }),
          },
          { additionalProperties: true },
        ),
        response: { 202: Seed, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body as { image_url: string; task_id: string; callback_url: string };
      for (const f of ['image_url', 'callback_url'] as const) {
        let u: URL | null = null;
        try {
          u = new URL(body[f]);
        } catch {}
        if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:'))
          throw badRequest(`body.${f} must be an http(s) URL`, 'validation_error', { field: f });
      }
      // The seed's flow hands /predict the image_url that /camera/snapshot gave: one of our own
      // authenticated frames, which a plain fetch would get as 401. The caller may read frames.
      const own = /^\/api\/v1\/ai\/frames\/([^/]+)$/.exec(new URL(body.image_url).pathname);
      const localImage = own ? ((await frames.get(own[1]!))?.jpeg ?? null) : null;
      void analyseForCallback(body, { detectors, limits: frames.limits, localImage }).then((result) =>
        deliverCallback(body.callback_url, result, opts.logger),
      );
      return reply.status(202).send({ status: 'accepted', message: 'Analysis request received.' });
    },
  );

  // ---- seed 002 §4.6 and history ----
  app.get(
    '/ai/analysis/latest',
    { schema: { querystring: PrinterQuery, response: { 200: Any, ...errorResponses } } },
    async (request) => {
      const { printerId } = request.query as { printerId?: string };
      if (printerId && !fleet.get(printerId)) throw notFound('printer');
      const a = await monitor.latest(printerId ?? null);
      if (!a) return { status: 'success', message: 'no analysis yet', result: null };
      const threshold = a.printerId && fleet.get(a.printerId) ? monitor.settings(a.printerId).confidenceThreshold : 0.2;
      return { status: 'success', message: 'latest analysis', result: seedResult(a, threshold), analysis: a };
    },
  );

  app.get(
    '/ai/analysis',
    {
      schema: {
        querystring: Type.Object({
          printerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          jobId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          before: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
          verdict: Type.Optional(Type.Union(['ok', 'warn', 'pause', 'alerts'].map((v) => Type.Literal(v)))),
        }),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => {
      const q = request.query as {
        printerId?: string;
        jobId?: string;
        limit?: number;
        before?: string;
        verdict?: string;
      };
      if (q.printerId && !fleet.get(q.printerId)) throw notFound('printer');
      const items = await monitor.history({ ...q, limit: q.limit ?? 50 });
      return {
        status: 'success',
        message: `${items.length} analyses`,
        items,
        next: items.length === (q.limit ?? 50) ? (items.at(-1)?.at ?? null) : null,
      };
    },
  );

  // ---- seed 002 §4.4, §4.5: control and status of one printer ----
  app.post(
    '/printer/control',
    {
      schema: {
        body: Type.Object(
          {
            command: Type.Union([Type.Literal('pause'), Type.Literal('resume'), Type.Literal('cancel')]),
            printerId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Seed, ...errorResponses },
      },
    },
    async (request) => {
      const { command, printerId } = request.body as { command: 'pause' | 'resume' | 'cancel'; printerId?: string };
      const p = resolvePrinter(fleet, printerId);
      const allowed = {
        pause: ['printing', 'preparing'],
        resume: ['paused'],
        cancel: ['printing', 'preparing', 'paused', 'error'],
      };
      if (!allowed[command].includes(p.state.status))
        throw conflict(`cannot ${command} a printer that is ${p.state.status}`, 'invalid_printer_state');
      try {
        await p.driver[command]();
      } catch (err) {
        if (err instanceof DriverError) throw new DomainError('conflict', err.code, err.message);
        throw err;
      }
      return { status: 'success', message: 'Command executed successfully.', printerId: p.summary.id, command };
    },
  );

  app.get(
    '/printer/status',
    { schema: { querystring: PrinterQuery, response: { 200: Any, ...errorResponses } } },
    async (request) => {
      const p = resolvePrinter(fleet, (request.query as { printerId?: string }).printerId);
      const s = p.state;
      return {
        status: s.status,
        details: {
          temperature: { bed: s.temperatures.bed?.actual ?? null, tool0: s.temperatures.nozzle?.actual ?? null },
          progress: s.progress,
          remaining_time: hhmmss(s.remainingSeconds),
        },
        printerId: p.summary.id,
        name: p.summary.name,
      };
    },
  );

  // ---- per-printer AI: settings, state, check now, feedback ----
  app.get(
    '/ai/printers/:id',
    { schema: { params: IdParams, response: { 200: Any, ...errorResponses } } },
    async (request) => {
      const { id } = request.params as { id: string };
      const settings = monitor.settings(id);
      const rule = monitor.ruleState(id);
      const params = { ...defaultRuleParams, ...settings.rule };
      return {
        printerId: id,
        settings,
        detector: settings.detector ?? (await detectors.defaultName()),
        rule: {
          frameNum: rule.frameNum,
          warmupFrames: params.warmupFrames,
          pausedAt: rule.pausedAt ? new Date(rule.pausedAt).toISOString() : null,
          baselineBoost: rule.baselineBoost,
        },
        lines: { warn: params.low, pause: Math.round(params.low * params.pauseFactor * 1000) / 1000 },
        latest: await monitor.latest(id),
        series: await monitor.series(id),
        simulated: !!simulatorOf(fleet.get(id)),
      };
    },
  );

  app.put(
    '/ai/printers/:id/settings',
    { schema: { params: IdParams, body: Any, response: { 200: Any, ...errorResponses } } },
    async (request) =>
      monitor.updateSettings((request.params as { id: string }).id, request.body as Record<string, unknown>),
  );

  app.post(
    '/ai/printers/:id/check',
    { schema: { params: IdParams, response: { 200: Any, ...errorResponses } } },
    async (request) => monitor.analyse((request.params as { id: string }).id, 'manual'),
  );

  app.post(
    '/ai/printers/:id/feedback',
    {
      schema: {
        params: IdParams,
        body: Type.Object(
          { verdict: Type.Union([Type.Literal('not_failure'), Type.Literal('acknowledge')]) },
          { additionalProperties: false },
        ),
        response: { 200: Any, ...errorResponses },
      },
    },
    async (request) => {
      const rule = await monitor.feedback(
        (request.params as { id: string }).id,
        (request.body as { verdict: 'not_failure' | 'acknowledge' }).verdict,
      );
      return { ok: true, baselineBoost: rule.baselineBoost };
    },
  );

  /** Demo: makes a simulated printer's print turn into spaghetti, so the AI can be seen at work. */
  app.post(
    '/ai/printers/:id/demo-fault',
    { schema: { params: IdParams, response: { 200: Any, ...errorResponses } } },
    async (request) => {
      const p = fleet.get((request.params as { id: string }).id);
      if (!p) throw notFound('printer');
      const sim = simulatorOf(p);
      if (!sim) throw conflict('only simulated printers can be made to fail on purpose', 'not_simulated');
      sim.startSpaghetti();
      return { ok: true };
    },
  );

  // ---- detectors ----
  app.get('/ai/detectors', { schema: { response: { 200: Type.Array(Any), ...errorResponses } } }, async () =>
    detectors.list(),
  );
  app.post(
    '/ai/detectors',
    {
      config: { role: 'admin' },
      schema: {
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 41 }),
            kind: Type.String({ minLength: 1, maxLength: 40 }),
            config: Any,
          },
          { additionalProperties: false },
        ),
        response: { 201: Any, ...errorResponses },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await detectors.add(request.body as never, new Date(opts.now()).toISOString())),
  );
  app.patch(
    '/ai/detectors/:name',
    { config: { role: 'admin' }, schema: { params: NameParams, body: Any, response: { 200: Any, ...errorResponses } } },
    async (request) => detectors.update((request.params as { name: string }).name, request.body),
  );
  app.delete(
    '/ai/detectors/:name',
    { config: { role: 'admin' }, schema: { params: NameParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await detectors.remove((request.params as { name: string }).name);
      return reply.status(204).send();
    },
  );
}

/** The in-process simulator behind a simulated-* printer, when it can fake a failure. */
function simulatorOf(p: FleetPrinter | undefined): { startSpaghetti(): void } | null {
  const sim = (p?.driver as { simulator?: { startSpaghetti?: unknown } | null } | undefined)?.simulator;
  return sim && typeof sim.startSpaghetti === 'function' ? (sim as { startSpaghetti(): void }) : null;
}
