import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { DriverError, type PrinterDriver } from '../../printers/driver.ts';
import type { TemperatureHistory } from '../../printers/temperature-history.ts';
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
  /** Server-side temperature history (GET /printers/:id/temperatures); absent = empty answers. */
  temperatures?: TemperatureHistory;
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
            model: Type.Optional(Type.Union([Type.String({ maxLength: 50 }), Type.Null()])),
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

  const TestResult = Type.Object({
    ok: Type.Boolean(),
    code: Type.String(),
    message: Type.String(),
    params: Type.Record(Type.String(), Type.Unknown()),
    elapsedMs: Type.Integer(),
    reported: Type.Union([
      Type.Object({
        model: Type.Union([Type.String(), Type.Null()]),
        nozzleDiameter: Type.Union([Type.Number(), Type.Null()]),
        firmware: Type.Union([Type.String(), Type.Null()]),
      }),
      Type.Null(),
    ]),
  });
  const Timeout = Type.Optional(Type.Integer({ minimum: 1, maximum: 30 }));

  app.post(
    '/printers/test-connection',
    {
      schema: {
        summary: 'Connect to a printer that is not added yet (the add body) and say what failed, in a code and words',
        body: Type.Object(
          {
            name: Type.Optional(Type.String({ maxLength: 100 })),
            driver: Type.String({ minLength: 1, maxLength: 50 }),
            model: Type.Optional(Type.Union([Type.String({ maxLength: 50 }), Type.Null()])),
            connection: Type.Object({}, { additionalProperties: true }),
            settings: Type.Optional(Settings),
            enabled: Type.Optional(Type.Boolean()),
            timeoutSeconds: Timeout,
          },
          { additionalProperties: false },
        ),
        response: { 200: TestResult, ...errorResponses },
      },
    },
    async (request) => fleet.testNewConnection(request.body as { driver: string; model?: string | null; connection: unknown; timeoutSeconds?: number }),
  );

  app.post(
    '/printers/:id/test-connection',
    {
      schema: {
        summary: "Connect with a printer's stored settings, or with changes laid over them before saving",
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            {
              connection: Type.Optional(Type.Object({}, { additionalProperties: true })),
              model: Type.Optional(Type.Union([Type.String({ maxLength: 50 }), Type.Null()])),
              timeoutSeconds: Timeout,
            },
            { additionalProperties: false },
          ),
        ),
        response: { 200: TestResult, ...errorResponses },
      },
    },
    async (request) =>
      fleet.testStoredConnection(
        (request.params as { id: string }).id,
        (request.body ?? {}) as { connection?: unknown; model?: string | null; timeoutSeconds?: number },
      ),
  );

  const Temp = Type.Optional(Type.Object({ actual: Type.Number(), target: Type.Number() }));
  app.get(
    '/printers/:id/temperatures',
    {
      schema: {
        summary: 'Temperature history kept on the server (one point per interval, the last hours), oldest first',
        params: IdParams,
        querystring: Type.Object({ since: Type.Optional(Type.String({ format: 'date-time' })) }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            intervalSeconds: Type.Integer(),
            keepSeconds: Type.Integer(),
            points: Type.Array(Type.Object({ at: Type.String(), nozzle: Temp, bed: Temp, chamber: Temp })),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      if (!fleet.get(id)) throw notFound('printer');
      const since = (request.query as { since?: string }).since;
      const h = opts.temperatures;
      return {
        intervalSeconds: h?.intervalSeconds ?? 10,
        keepSeconds: h?.keepSeconds ?? 0,
        points: h ? h.points(id, since ? Date.parse(since) : undefined) : [],
      };
    },
  );

  /** Runs a printer-page control, turning driver refusals into 409s with their code. */
  const control = async <T>(id: string, what: 'setLight' | 'setFan' | 'console', run: (d: Required<Pick<PrinterDriver, typeof what>>) => Promise<T>): Promise<T> => {
    const p = fleet.get(id);
    if (!p) throw notFound('printer');
    const fn = p.driver[what];
    if (typeof fn !== 'function') {
      throw conflict(`this printer (${p.summary.driver}) offers no ${what === 'console' ? 'G-code console' : what === 'setLight' ? 'light control' : 'fan control'}`, 'not_supported', { control: what });
    }
    if (p.state.status === 'offline' || p.state.status === 'connecting') {
      throw conflict(`the printer is ${p.state.status}`, 'printer_offline', { status: p.state.status });
    }
    try {
      return await run(p.driver as Required<Pick<PrinterDriver, typeof what>>);
    } catch (err) {
      if (err instanceof DriverError) throw new DomainError('conflict', err.code, err.message, err.params);
      throw err;
    }
  };

  const Accepted = Type.Object({ accepted: Type.Boolean() });
  app.post(
    '/printers/:id/light',
    {
      schema: {
        summary: 'Chamber/case light on or off (Bambu ledctrl, Marlin M355)',
        params: IdParams,
        body: Type.Object({ on: Type.Boolean() }, { additionalProperties: false }),
        response: { 202: Accepted, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { on } = request.body as { on: boolean };
      await control((request.params as { id: string }).id, 'setLight', (d) => d.setLight(on));
      return reply.status(202).send({ accepted: true });
    },
  );

  app.post(
    '/printers/:id/fan',
    {
      schema: {
        summary: 'Part-cooling fan speed in percent (M106/M107)',
        params: IdParams,
        body: Type.Object({ percent: Type.Integer({ minimum: 0, maximum: 100 }) }, { additionalProperties: false }),
        response: { 202: Accepted, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { percent } = request.body as { percent: number };
      await control((request.params as { id: string }).id, 'setFan', (d) => d.setFan(percent));
      return reply.status(202).send({ accepted: true });
    },
  );

  app.post(
    '/printers/:id/gcode',
    {
      schema: {
        summary: 'G-code console (Marlin, Klipper): sends the lines, answers what the printer replied',
        params: IdParams,
        body: Type.Object(
          { lines: Type.Array(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\r\\n]*$' }), { minItems: 1, maxItems: 50 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ lines: Type.Array(Type.String()) }), ...errorResponses },
      },
    },
    async (request) => {
      const { lines } = request.body as { lines: string[] };
      return { lines: await control((request.params as { id: string }).id, 'console', (d) => d.console(lines)) };
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
