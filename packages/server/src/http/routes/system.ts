import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { AuthService } from '../../auth/auth-service.ts';
import { badRequest } from '../../errors.ts';
import { ErrorSchema } from '../schemas.ts';

export const Credentials = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\s]+$' }),
    password: Type.String({ maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const systemRoutes: FastifyPluginAsync<{ auth: AuthService; version: string }> = async (app, opts) => {
  app.get(
    '/health',
    { schema: { response: { 200: Type.Object({ status: Type.String(), version: Type.String() }) } } },
    async () => ({ status: 'ok', version: opts.version }),
  );

  app.get(
    '/setup',
    { schema: { response: { 200: Type.Object({ needed: Type.Boolean() }) } } },
    async () => ({ needed: await opts.auth.setupNeeded() }),
  );

  app.post(
    '/setup',
    {
      schema: {
        body: Credentials,
        response: {
          201: Type.Object({ id: Type.String(), username: Type.String(), role: Type.String() }),
          400: ErrorSchema,
          409: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body as { username: string; password: string };
      if (password.length < 8) throw badRequest('body.password must be at least 8 characters');
      const user = await opts.auth.setup(username, password);
      return reply.status(201).send({ id: user.id, username: user.username, role: user.role });
    },
  );
};
