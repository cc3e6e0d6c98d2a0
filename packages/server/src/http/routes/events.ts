import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { EventLog } from '../../events/event-log.ts';

export const eventRoutes: FastifyPluginAsync<{ eventLog: EventLog }> = async (app, opts) => {
  app.get(
    '/events',
    {
      schema: {
        querystring: Type.Object(
          {
            printerId: Type.Optional(Type.String({ maxLength: 200 })),
            type: Type.Optional(Type.String({ maxLength: 100 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
            // Event ids are 32-bit serials on PostgreSQL: a larger bound would fail the query.
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647 })),
            from: Type.Optional(Type.String({ format: 'date-time' })),
            to: Type.Optional(Type.String({ format: 'date-time' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Array(
            Type.Object({
              id: Type.Integer(),
              type: Type.String(),
              printerId: Type.Union([Type.String(), Type.Null()]),
              data: Type.Unknown(),
              at: Type.String(),
              code: Type.String(),
              message: Type.String(),
              params: Type.Record(Type.String(), Type.Unknown()),
            }),
          ),
        },
      },
    },
    async (request) => opts.eventLog.query(request.query as { printerId?: string; type?: string; limit?: number; from?: string; to?: string }),
  );
};
