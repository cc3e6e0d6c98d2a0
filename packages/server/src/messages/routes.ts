import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { messageCatalogue } from './catalogue.ts';

/** GET /messages: every code the server can produce, with its kind and web text key. */
export const messageRoutes: FastifyPluginAsync = async (app) => {
  const body = { codes: messageCatalogue() };
  app.get(
    '/messages',
    {
      schema: {
        summary: 'Every stable code the server produces (texts: server.codes.<code> in the web UI, both languages)',
        response: { 200: Type.Object({ codes: Type.Array(Type.Object({ code: Type.String(), kind: Type.String(), key: Type.String() })) }) },
      },
    },
    async () => body,
  );
};
