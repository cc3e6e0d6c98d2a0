import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { AuthService } from '../../auth/auth-service.ts';
import type { LoginRateLimiter } from '../../auth/rate-limit.ts';
import { type Role, roles } from '../../auth/roles.ts';
import { DomainError, badRequest, unauthorized } from '../../errors.ts';
import { ErrorSchema, IdParams, errorResponses } from '../schemas.ts';
import { Credentials } from './system.ts';

const Tokens = Type.Object({ accessToken: Type.String(), refreshToken: Type.String(), expiresIn: Type.Integer() });
const RoleSchema = Type.Union(roles.map((r) => Type.Literal(r)));
const User = Type.Object({ id: Type.String(), username: Type.String(), role: Type.String(), createdAt: Type.String() });
const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String(),
  prefix: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});

export const authRoutes: FastifyPluginAsync<{ auth: AuthService; rateLimiter: LoginRateLimiter }> = async (app, opts) => {
  const { auth, rateLimiter } = opts;

  app.post(
    '/auth/login',
    { schema: { body: Credentials, response: { 200: Tokens, 400: ErrorSchema, 401: ErrorSchema, 429: ErrorSchema } } },
    async (request, reply) => {
      const { username, password } = request.body as { username: string; password: string };
      // Keyed by name and by address: many addresses cannot guess one account, and one address
      // cannot sweep many accounts (it gets a few times the per-account allowance, for shared NATs).
      const keys = [`user:${username.toLowerCase()}`, `ip:${request.ip}`];
      const wait = Math.max(rateLimiter.blockedFor(keys[0]!), rateLimiter.blockedFor(keys[1]!, 4));
      if (wait > 0) {
        reply.header('Retry-After', String(wait));
        throw new DomainError('rate_limited', 'too_many_attempts', `too many failed logins; try again in ${wait} s`);
      }
      const user = await auth.checkPassword(username, password);
      if (!user) {
        for (const k of keys) rateLimiter.recordFailure(k);
        throw unauthorized('wrong username or password', 'invalid_credentials');
      }
      rateLimiter.reset(`user:${username.toLowerCase()}`);
      return auth.issueTokens(user);
    },
  );

  app.post(
    '/auth/refresh',
    {
      schema: {
        body: Type.Object({ refreshToken: Type.String({ minLength: 1 }) }),
        response: { 200: Tokens, 400: ErrorSchema, 401: ErrorSchema },
      },
    },
    async (request) => auth.refresh((request.body as { refreshToken: string }).refreshToken),
  );

  app.post(
    '/auth/logout',
    {
      config: { role: 'viewer' },
      schema: { body: Type.Object({ refreshToken: Type.String({ minLength: 1 }) }), response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      await auth.revokeRefreshToken((request.body as { refreshToken: string }).refreshToken);
      return reply.status(204).send();
    },
  );

  app.get(
    '/auth/me',
    { schema: { response: { 200: Type.Object({ id: Type.String(), username: Type.String(), role: Type.String() }) } } },
    async (request) => ({ id: request.user!.id, username: request.user!.username, role: request.user!.role }),
  );

  app.get(
    '/users',
    { config: { role: 'admin' }, schema: { response: { 200: Type.Array(User), ...errorResponses } } },
    async () => auth.listUsers(),
  );

  app.post(
    '/users',
    {
      config: { role: 'admin' },
      schema: {
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\s]+$' }),
            password: Type.String({ maxLength: 1024 }),
            role: RoleSchema,
          },
          { additionalProperties: false },
        ),
        response: { 201: User, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { username, password, role } = request.body as { username: string; password: string; role: Role };
      if (password.length < 8) throw badRequest('body.password must be at least 8 characters');
      return reply.status(201).send(await auth.createUser(username, password, role));
    },
  );

  app.delete(
    '/users/:id',
    { config: { role: 'admin' }, schema: { params: IdParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      if (id === request.user!.id) throw badRequest('you cannot delete yourself', 'cannot_delete_self');
      await auth.deleteUser(id);
      return reply.status(204).send();
    },
  );

  app.post(
    '/api-keys',
    {
      config: { role: 'admin' },
      schema: {
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), role: RoleSchema }, { additionalProperties: false }),
        response: {
          201: Type.Object({ id: Type.String(), name: Type.String(), role: Type.String(), key: Type.String(), prefix: Type.String() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { name, role } = request.body as { name: string; role: Role };
      const created = await auth.createApiKey(name, role, request.user!.via === 'jwt' ? request.user!.id : null);
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/api-keys',
    { config: { role: 'admin' }, schema: { response: { 200: Type.Array(ApiKey), ...errorResponses } } },
    async () => auth.listApiKeys(),
  );

  app.delete(
    '/api-keys/:id',
    { config: { role: 'admin' }, schema: { params: IdParams, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await auth.deleteApiKey((request.params as { id: string }).id);
      return reply.status(204).send();
    },
  );
};
