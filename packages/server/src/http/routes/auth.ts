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
  createdBy: Type.Union([Type.Object({ id: Type.String(), username: Type.String() }), Type.Null()], {
    description: 'the user who made the key; the key is revoked when that user is deleted',
  }),
});

export const authRoutes: FastifyPluginAsync<{ auth: AuthService; rateLimiter: LoginRateLimiter }> = async (app, opts) => {
  const { auth, rateLimiter } = opts;

  app.post(
    '/auth/login',
    { schema: { body: Credentials, response: { 200: Tokens, 400: ErrorSchema, 401: ErrorSchema, 429: ErrorSchema } } },
    async (request, reply) => {
      const { username, password } = request.body as { username: string; password: string };
      // Counted before hashing (parallel guesses cannot all be checked), per account+address with
      // growing delays and per address (auth/rate-limit.ts).
      const attempt = rateLimiter.begin(username, request.ip);
      if (!attempt.ok) {
        reply.header('Retry-After', String(attempt.retryAfterSeconds));
        throw new DomainError('rate_limited', 'too_many_attempts', `too many failed logins; try again in ${attempt.retryAfterSeconds} s`);
      }
      let user: Awaited<ReturnType<AuthService['checkPassword']>> = null;
      try {
        user = await auth.checkPassword(username, password);
      } finally {
        rateLimiter.finish(attempt.ticket, !!user);
      }
      if (!user) throw unauthorized('wrong username or password', 'invalid_credentials');
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
      await auth.revokeRefreshToken((request.body as { refreshToken: string }).refreshToken, request.user!.ownerId ?? null);
      return reply.status(204).send();
    },
  );

  app.post(
    '/auth/password',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Change your own password; your other sessions end, this one gets new tokens',
        body: Type.Object(
          { currentPassword: Type.String({ maxLength: 1024 }), newPassword: Type.String({ maxLength: 1024 }) },
          { additionalProperties: false },
        ),
        response: { 200: Tokens, ...errorResponses },
      },
    },
    async (request) => {
      if (request.user!.via !== 'jwt') throw badRequest('an API key has no password: log in as the user', 'not_a_user');
      const { currentPassword, newPassword } = request.body as { currentPassword: string; newPassword: string };
      return auth.changeOwnPassword(request.user!.id, currentPassword, newPassword);
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

  app.patch(
    '/users/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: "Change a user's role or password (a new password ends their sessions); the last admin stays admin (409)",
        params: IdParams,
        body: Type.Object(
          { role: Type.Optional(RoleSchema), password: Type.Optional(Type.String({ maxLength: 1024 })) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: User, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      return auth.updateUser(id, request.body as { role?: Role; password?: string });
    },
  );

  app.delete(
    '/users/:id',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Delete a user with their sessions and API keys; the last admin cannot be deleted (409)',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      if (id === request.user!.ownerId && request.user!.via === 'jwt') throw badRequest('you cannot delete yourself', 'cannot_delete_self');
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
          201: Type.Object({
            id: Type.String(),
            name: Type.String(),
            role: Type.String(),
            key: Type.String(),
            prefix: Type.String(),
            createdBy: ApiKey.properties.createdBy,
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { name, role } = request.body as { name: string; role: Role };
      // A key made with a key belongs to the person behind that key: keys always trace to a user.
      const created = await auth.createApiKey(name, role, request.user!.ownerId ?? null);
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
