/**
 * Print history and per-copy actions (docs/api.md Additions "Print history",
 * docs/operator-api-queue.md): GET /jobs (JSON or CSV), GET /jobs/stats, GET /jobs/:id,
 * POST /jobs/:id/cancel, POST /jobs/:id/retry.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { IdParams, errorResponses } from '../http/schemas.ts';
import { type JobFilter, type JobOutcomeName, JOB_OUTCOMES, toCsv } from './job-history.ts';
import type { QueueService } from './queue-service.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Num = Type.Union([Type.Number(), Type.Null()]);

export const JobItemSchema = Type.Object({
  id: Type.String(),
  printerId: Type.String(),
  printerName: Nullable(Type.String()),
  queueItemId: Type.String(),
  fileId: Nullable(Type.String()),
  fileName: Nullable(Type.String()),
  plate: Type.Union([Type.Integer(), Type.Null()]),
  startedAt: Nullable(Type.String()),
  endedAt: Nullable(Type.String()),
  durationSeconds: Num,
  outcome: Type.String(),
  reason: Nullable(Type.String()),
  filamentGrams: Num,
  cancelledBy: Nullable(Type.String()),
});

const Totals = {
  prints: Type.Integer(),
  done: Type.Integer(),
  failed: Type.Integer(),
  cancelled: Type.Integer(),
  unknown: Type.Integer(),
  printSeconds: Type.Number(),
  filamentGrams: Type.Number(),
  successRate: Num,
};

const StatsSchema = Type.Object({
  ...Totals,
  printers: Type.Array(Type.Object({ printerId: Type.String(), printerName: Nullable(Type.String()), ...Totals })),
});

const ListQuery = Type.Object({
  printerId: Type.Optional(Type.String({ maxLength: 200 })),
  fileId: Type.Optional(Type.String({ maxLength: 200 })),
  outcome: Type.Optional(Type.Union(JOB_OUTCOMES.map((o) => Type.Literal(o)))),
  from: Type.Optional(Type.String({ maxLength: 40 })),
  to: Type.Optional(Type.String({ maxLength: 40 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  cursor: Type.Optional(Type.String({ maxLength: 500 })),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])),
});

const StatsQuery = Type.Object({
  printerId: Type.Optional(Type.String({ maxLength: 200 })),
  fileId: Type.Optional(Type.String({ maxLength: 200 })),
  from: Type.Optional(Type.String({ maxLength: 40 })),
  to: Type.Optional(Type.String({ maxLength: 40 })),
});

/** CSV export pages through the history in one answer, up to this many rows. */
const CSV_MAX_ROWS = 100_000;

const tags = ['jobs'];

export async function jobRoutes(app: FastifyInstance, opts: { queue: QueueService }): Promise<void> {
  const { queue } = opts;

  app.get(
    '/jobs',
    {
      schema: {
        tags,
        querystring: ListQuery,
        response: {
          200: Type.Union([
            Type.Object({ items: Type.Array(JobItemSchema), next: Nullable(Type.String()) }),
            Type.String(),
          ]),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const q = request.query as JobFilter & {
        limit?: number;
        cursor?: string;
        format?: 'json' | 'csv';
        outcome?: JobOutcomeName;
      };
      const filter: JobFilter = {
        printerId: q.printerId,
        fileId: q.fileId,
        outcome: q.outcome,
        from: q.from,
        to: q.to,
      };
      if (q.format === 'csv') {
        // The whole (filtered) history, newest first: an export is not paged.
        const rows = [];
        let cursor = q.cursor;
        while (rows.length < CSV_MAX_ROWS) {
          const page = await queue.history.list(filter, { limit: 500, cursor });
          rows.push(...page.items.map((j) => queue.presentJob(j)));
          if (!page.next) break;
          cursor = page.next;
        }
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="print-history.csv"')
          .send(toCsv(rows));
      }
      const page = await queue.history.list(filter, { limit: q.limit ?? 50, cursor: q.cursor });
      return { items: page.items.map((j) => queue.presentJob(j)), next: page.next };
    },
  );

  app.get(
    '/jobs/stats',
    { schema: { tags, querystring: StatsQuery, response: { 200: StatsSchema, ...errorResponses } } },
    async (request) => queue.history.stats(request.query as Omit<JobFilter, 'outcome'>),
  );

  app.get(
    '/jobs/:id',
    { schema: { tags, params: IdParams, response: { 200: JobItemSchema, ...errorResponses } } },
    async (request) => queue.getJob((request.params as { id: string }).id),
  );

  app.post(
    '/jobs/:id/cancel',
    {
      schema: {
        tags,
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            { scope: Type.Optional(Type.Union([Type.Literal('copy'), Type.Literal('item')])) },
            { additionalProperties: false },
          ),
        ),
        response: {
          200: Type.Object({
            job: JobItemSchema,
            item: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const scope = (request.body as { scope?: 'copy' | 'item' } | undefined)?.scope ?? 'copy';
      return queue.cancelJob((request.params as { id: string }).id, scope, request.user?.username ?? 'user');
    },
  );

  app.post(
    '/jobs/:id/retry',
    {
      schema: {
        tags,
        params: IdParams,
        body: Type.Union([Type.Object({}, { additionalProperties: false }), Type.Null()]),
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses },
      },
    },
    async (request) => queue.retryJob((request.params as { id: string }).id),
  );
}
