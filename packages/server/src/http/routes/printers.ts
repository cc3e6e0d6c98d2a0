import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { DriverError } from '../../printers/driver.ts';
import type { Fleet, NewPrinter, PrinterPatch } from '../../printers/fleet.ts';
import { type QueueInfoProvider, presentPrinter } from '../../printers/presenter.ts';
import { DomainError, conflict, notFound } from '../../errors.ts';
import { IdParams, errorResponses } from '../schemas.ts';

const Settings = Type.Object(
  {
    swapCooldownSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
    requirePlateClear: Type.Optional(Type.Boolean()),
    nozzleDiameter: Type.Optional(Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 2 }), Type.Null()])),
  },
  { additionalProperties: false },
);

const Printer = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    driver: Type.String(),
    model: Type.Union([Type.String(), Type.Null()]),
    enabled: Type.Boolean(),
    settings: Type.Object({}, { additionalProperties: true }),
    connection: Type.Object({}, { additionalProperties: true }),
    state: Type.Object({ status: Type.String() }, { additionalProperties: true }),
  },
  { additionalProperties: true },
);

export interface PrinterRouteOptions {
  fleet: Fleet;
  queueInfo?: QueueInfoProvider;
  isBusyWithQueueJob?: (printerId: string) => boolean;
}

export const printerRoutes: FastifyPluginAsync<PrinterRouteOptions> = async (app, opts) => {
  const { fleet } = opts;
  const present = (id: string) => {
    const p = fleet.get(id);
    if (!p) throw notFound('printer');
    return presentPrinter(p, fleet.publicConnection(id), opts.queueInfo);
  };

  app.get('/printers', { schema: { response: { 200: Type.Array(Printer) } } }, async () =>
    fleet.list().map((p) => present(p.summary.id)),
  );

  app.get('/printers/:id', { schema: { params: IdParams, response: { 200: Printer, ...errorResponses } } }, async (request) =>
    present((request.params as { id: string }).id),
  );

  app.post(
    '/printers',
    {
      schema: {
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100 }),
            driver: Type.String({ minLength: 1, maxLength: 50 }),
            model: Type.Optional(Type.Union([Type.String({ maxLength: 50 }), Type.Null()])),
            connection: Type.Object({}, { additionalProperties: true }),
            settings: Type.Optional(Settings),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: Printer, ...errorResponses },
      },
    },
    async (request, reply) => {
      const p = await fleet.add(request.body as NewPrinter);
      return reply.status(201).send(present(p.summary.id));
    },
  );

  app.patch(
    '/printers/:id',
    {
      schema: {
        params: IdParams,
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            enabled: Type.Optional(Type.Boolean()),
            connection: Type.Optional(Type.Object({}, { additionalProperties: true })),
            settings: Type.Optional(Settings),
          },
          { additionalProperties: false },
        ),
        response: { 200: Printer, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await fleet.update(id, request.body as PrinterPatch);
      return present(id);
    },
  );

  app.delete(
    '/printers/:id',
    { schema: { params: IdParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await fleet.remove((request.params as { id: string }).id, opts.isBusyWithQueueJob ?? (() => false));
      return reply.status(204).send();
    },
  );

  app.post(
    '/printers/:id/control',
    {
      schema: {
        params: IdParams,
        body: Type.Object(
          { command: Type.Union([Type.Literal('pause'), Type.Literal('resume'), Type.Literal('cancel')]) },
          { additionalProperties: false },
        ),
        response: { 202: Type.Object({ accepted: Type.Boolean(), command: Type.String() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { command } = request.body as { command: 'pause' | 'resume' | 'cancel' };
      const p = fleet.get(id);
      if (!p) throw notFound('printer');
      const status = p.state.status;
      const allowed: Record<typeof command, string[]> = {
        pause: ['printing', 'preparing'],
        resume: ['paused'],
        cancel: ['printing', 'preparing', 'paused', 'error'],
      };
      if (!allowed[command].includes(status)) {
        throw conflict(`cannot ${command} a printer that is ${status}`, 'invalid_printer_state');
      }
      try {
        await p.driver[command]();
      } catch (err) {
        if (err instanceof DriverError) throw new DomainError('conflict', err.code, err.message);
        throw err;
      }
      return reply.status(202).send({ accepted: true, command });
    },
  );

  app.post(
    '/printers/:id/certificate',
    {
      config: { role: 'admin' },
      schema: {
        summary: "Trust the TLS certificate a printer presents after it changed (admin); fingerprint from the printer's state",
        params: IdParams,
        body: Type.Object({ fingerprint256: Type.String({ minLength: 64, maxLength: 128 }) }, { additionalProperties: false }),
        response: { 200: Printer, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      try {
        await fleet.trustCertificate(id, (request.body as { fingerprint256: string }).fingerprint256);
      } catch (err) {
        if (err instanceof DriverError) throw new DomainError('conflict', err.code, err.message);
        throw err;
      }
      return present(id);
    },
  );

  app.get(
    '/printers/:id/snapshot',
    { schema: { params: IdParams, produces: ['image/jpeg'], response: errorResponses } },
    async (request, reply) => {
      const p = fleet.get((request.params as { id: string }).id);
      if (!p) throw notFound('printer');
      let jpeg: Buffer | null;
      try {
        jpeg = await p.driver.snapshot();
      } catch (err) {
        throw new DomainError('conflict', 'snapshot_failed', `no snapshot: ${(err as Error).message}`);
      }
      if (!jpeg) throw notFound('camera snapshot', 'no_camera');
      return reply.type('image/jpeg').header('Cache-Control', 'no-store').send(jpeg);
    },
  );
};
