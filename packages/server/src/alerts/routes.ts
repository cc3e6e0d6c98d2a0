import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { IdParams, errorResponses } from '../http/schemas.ts';
import type { AlertStore } from './alert-store.ts';

const Alert = Type.Object({
  id: Type.String(),
  level: Type.String(),
  code: Type.String(),
  message: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown()),
  printerId: Type.Union([Type.String(), Type.Null()]),
  at: Type.String(),
  acknowledgedAt: Type.Union([Type.String(), Type.Null()]),
  acknowledgedBy: Type.Union([Type.String(), Type.Null()]),
});

/** GET /alerts, POST /alerts/:id/acknowledge, POST /alerts/acknowledge-all (docs/api.md, Additions). */
export const alertRoutes: FastifyPluginAsync<{ alerts: AlertStore }> = async (app, opts) => {
  app.get(
    '/alerts',
    {
      schema: {
        summary: 'Alerts (things a person must act on), newest first, with the count of unacknowledged ones',
        querystring: Type.Object(
          {
            acknowledged: Type.Optional(Type.Boolean()),
            printerId: Type.Optional(Type.String({ maxLength: 200 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            before: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Alert), unacknowledged: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => opts.alerts.list(request.query as { acknowledged?: boolean; printerId?: string; limit?: number; before?: string }),
  );

  app.post(
    '/alerts/acknowledge-all',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Acknowledge every open alert (of one printer, when given)',
        body: Type.Optional(Type.Object({ printerId: Type.Optional(Type.String({ maxLength: 200 })) }, { additionalProperties: false })),
        response: { 200: Type.Object({ acknowledged: Type.Integer() }), ...errorResponses },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as { printerId?: string };
      return { acknowledged: await opts.alerts.acknowledgeAll(request.user!.username, body.printerId) };
    },
  );

  app.post(
    '/alerts/:id/acknowledge',
    {
      config: { role: 'operator' },
      schema: { summary: 'Acknowledge one alert (idempotent)', params: IdParams, response: { 200: Alert, ...errorResponses } },
    },
    async (request) => opts.alerts.acknowledge((request.params as { id: string }).id, request.user!.username),
  );
};
