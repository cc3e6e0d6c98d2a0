/**
 * Queue HTTP routes (docs/api.md, Queue), registered by the app under /api/v1. Auth and roles are
 * applied centrally; every route has schemas so the OpenAPI document lists it.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { IdParams, errorResponses } from '../http/schemas.ts';
import type { QueueItemPatch, NewQueueItem, QueueService, QueueSettings } from './queue-service.ts';
import { jobRoutes } from './job-routes.ts';

const Iso = Type.Union([Type.String(), Type.Null()]);

const Overrides = Type.Object({
  bedLeveling: Type.Boolean(),
  flowCalibration: Type.Boolean(),
  timelapse: Type.Boolean(),
});

const OverridesPatch = Type.Partial(Overrides, { additionalProperties: false });

const PrinterIds = Type.Union([
  Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 10000 }),
  Type.Null(),
]);

const AmsMapping = Type.Union([
  Type.Array(Type.Integer({ minimum: -1, maximum: 254 }), { minItems: 1, maxItems: 64 }),
  Type.Null(),
]);

export const ReasonSchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  params: Type.Object({}, { additionalProperties: true }),
});

export const QueueItemSchema = Type.Object({
  id: Type.String(),
  fileId: Type.String(),
  fileName: Type.Union([Type.String(), Type.Null()]),
  plate: Type.Integer(),
  copies: Type.Integer(),
  copiesDone: Type.Integer(),
  status: Type.Union(['waiting', 'printing', 'done', 'failed', 'cancelled'].map((s) => Type.Literal(s))),
  position: Type.Integer(),
  overrides: Overrides,
  printerIds: PrinterIds,
  estimatedSeconds: Type.Union([Type.Number(), Type.Null()]),
  thumbnailUrl: Type.Union([Type.String(), Type.Null()]),
  currentPrinterId: Type.Union([Type.String(), Type.Null()]),
  activePrinterIds: Type.Array(Type.String()),
  lastError: Type.Union([Type.String(), Type.Null()]),
  waitingReason: Type.Union([ReasonSchema, Type.Null()]),
  estimatedStartAt: Iso,
  estimatedFinishAt: Iso,
  createdAt: Type.String(),
  updatedAt: Type.String(),
  copiesCancelled: Type.Integer(),
  copiesFailed: Type.Integer(),
  activeJobs: Type.Array(
    Type.Object({
      id: Type.String(),
      printerId: Type.String(),
      printerName: Type.Union([Type.String(), Type.Null()]),
      status: Type.String(),
      startedAt: Iso,
    }),
  ),
  amsMapping: AmsMapping,
  filaments: Type.Array(
    Type.Object({
      slot: Type.Integer(),
      type: Type.String(),
      color: Type.Union([Type.String(), Type.Null()]),
      grams: Type.Union([Type.Number(), Type.Null()]),
    }),
  ),
});

export const QueueSchema = Type.Object({
  running: Type.Boolean(),
  items: Type.Array(QueueItemSchema),
  remainingSeconds: Type.Number(),
  finishAt: Iso,
  printers: Type.Array(
    Type.Object({
      printerId: Type.String(),
      printerName: Type.String(),
      idleReason: Type.Union([ReasonSchema, Type.Null()]),
    }),
  ),
});

const ItemList = Type.Object({ items: Type.Array(QueueItemSchema) });

const Running = Type.Object({ running: Type.Boolean() });
const Settings = Type.Object({ failedCopyPolicy: Type.Union([Type.Literal('retry'), Type.Literal('fail')]) });
const Gate = Type.Object({
  open: Type.Boolean(),
  code: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  params: Type.Object({}, { additionalProperties: true }),
});

const NewItemBody = Type.Object(
  {
    fileId: Type.String({ minLength: 1, maxLength: 200 }),
    plate: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    copies: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    overrides: Type.Optional(OverridesPatch),
    printerIds: Type.Optional(PrinterIds),
    amsMapping: Type.Optional(AmsMapping),
  },
  { additionalProperties: false },
);

const AllPlatesBody = Type.Object(
  {
    fileId: Type.String({ minLength: 1, maxLength: 200 }),
    copies: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    overrides: Type.Optional(OverridesPatch),
    printerIds: Type.Optional(PrinterIds),
  },
  { additionalProperties: false },
);

const FitBody = Type.Object(
  {
    fileId: Type.String({ minLength: 1, maxLength: 200 }),
    plate: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    printerIds: Type.Optional(PrinterIds),
    amsMapping: Type.Optional(AmsMapping),
  },
  { additionalProperties: false },
);

const FitAnswer = Type.Object({
  fits: Type.Boolean(),
  waitingReason: Type.Union([ReasonSchema, Type.Null()]),
  printers: Type.Array(
    Type.Object({
      printerId: Type.String(),
      printerName: Type.String(),
      fits: Type.Boolean(),
      problem: Type.Union([ReasonSchema, Type.Null()]),
      supportedOverrides: Type.Array(Type.String()),
      amsMapping: Type.Union([Type.Array(Type.Integer()), Type.Null()]),
    }),
  ),
});

/** Actions without a body still declare one (an empty object or nothing) so the API doc is complete. */
const NoBody = Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]);

const RetryBody = Type.Object(
  { ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 10000 })) },
  { additionalProperties: false },
);

const PatchItemBody = Type.Object(
  {
    copies: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    overrides: Type.Optional(OverridesPatch),
    printerIds: Type.Optional(PrinterIds),
    amsMapping: Type.Optional(AmsMapping),
  },
  { additionalProperties: false },
);

const ReorderBody = Type.Object(
  { ids: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100000 }) },
  { additionalProperties: false },
);

const tags = ['queue'];

export async function queueRoutes(app: FastifyInstance, opts: { queue: QueueService }): Promise<void> {
  const { queue } = opts;

  app.get('/queue', { schema: { tags, response: { 200: QueueSchema, ...errorResponses } } }, async () =>
    queue.getQueue(),
  );

  app.post(
    '/queue',
    { schema: { tags, body: NewItemBody, response: { 201: QueueItemSchema, ...errorResponses } } },
    async (request, reply) => reply.status(201).send(await queue.addItem(request.body as NewQueueItem)),
  );

  app.post(
    '/queue/fit',
    // A question, not a change: viewers may ask it too.
    { config: { role: 'viewer' }, schema: { tags, body: FitBody, response: { 200: FitAnswer, ...errorResponses } } },
    async (request) => queue.checkFit(request.body as Parameters<QueueService['checkFit']>[0]),
  );

  app.post(
    '/queue/all-plates',
    { schema: { tags, body: AllPlatesBody, response: { 201: ItemList, ...errorResponses } } },
    async (request, reply) =>
      reply.status(201).send({ items: await queue.addAllPlates(request.body as Omit<NewQueueItem, 'plate'>) }),
  );

  app.post(
    '/queue/retry',
    { schema: { tags, body: RetryBody, response: { 200: ItemList, ...errorResponses } } },
    async (request) => ({ items: await queue.retryItems((request.body as { ids?: string[] } | undefined)?.ids) }),
  );

  app.post(
    '/queue/:id/cancel',
    { schema: { tags, params: IdParams, body: NoBody, response: { 200: QueueItemSchema, ...errorResponses } } },
    async (request) => queue.cancelItem((request.params as { id: string }).id, request.user?.username ?? 'user'),
  );

  app.post(
    '/queue/:id/retry',
    { schema: { tags, params: IdParams, body: NoBody, response: { 200: QueueItemSchema, ...errorResponses } } },
    async (request) => queue.retryItem((request.params as { id: string }).id),
  );

  await jobRoutes(app, { queue });

  app.get('/queue/settings', { schema: { tags, response: { 200: Settings, ...errorResponses } } }, async () =>
    queue.getSettings(),
  );

  app.put(
    '/queue/settings',
    {
      schema: {
        tags,
        body: Type.Partial(Settings, { additionalProperties: false }),
        response: { 200: Settings, ...errorResponses },
      },
    },
    async (request) => queue.updateSettings(request.body as Partial<QueueSettings>),
  );

  app.post(
    '/queue/reorder',
    { schema: { tags, body: ReorderBody, response: { 200: QueueSchema, ...errorResponses } } },
    async (request) => queue.reorder((request.body as { ids: string[] }).ids),
  );

  app.post('/queue/start', { schema: { tags, response: { 200: Running, ...errorResponses } } }, async () =>
    queue.setRunning(true),
  );

  app.post('/queue/pause', { schema: { tags, response: { 200: Running, ...errorResponses } } }, async () =>
    queue.setRunning(false),
  );

  app.patch(
    '/queue/:id',
    { schema: { tags, params: IdParams, body: PatchItemBody, response: { 200: QueueItemSchema, ...errorResponses } } },
    async (request) => queue.updateItem((request.params as { id: string }).id, request.body as QueueItemPatch),
  );

  app.delete(
    '/queue/:id',
    {
      schema: {
        tags,
        params: IdParams,
        querystring: Type.Object({ cancel: Type.Optional(Type.Boolean()) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const cancel = (request.query as { cancel?: boolean }).cancel === true;
      await queue.removeItem((request.params as { id: string }).id, { cancel, actor: request.user?.username });
      return reply.status(204).send();
    },
  );

  app.delete(
    '/queue',
    { schema: { tags, response: { 204: Type.Null(), ...errorResponses } } },
    async (_request, reply) => {
      await queue.clear();
      return reply.status(204).send();
    },
  );

  app.post(
    '/printers/:id/plate-cleared',
    {
      schema: {
        tags: ['printers'],
        params: IdParams,
        response: { 200: Type.Object({ printerId: Type.String(), gate: Gate }), ...errorResponses },
      },
    },
    async (request) => queue.plateCleared((request.params as { id: string }).id),
  );
}
