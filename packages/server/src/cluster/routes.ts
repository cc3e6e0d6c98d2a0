/** GET /api/v1/cluster (docs/api.md, Additions): the server processes and how many printers each runs. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { errorResponses } from '../http/schemas.ts';
import type { Cluster } from './cluster.ts';

const ClusterSchema = Type.Object({
  processes: Type.Array(
    Type.Object({
      id: Type.String(),
      host: Type.String(),
      startedAt: Type.String(),
      printers: Type.Integer(),
      alive: Type.Boolean(),
    }),
  ),
  leaseSeconds: Type.Number(),
});

export const clusterRoutes: FastifyPluginAsync<{ cluster: Cluster }> = async (app, opts) => {
  // Viewer, like GET /printers: who runs which share of the fleet is operational status, not a secret.
  app.get(
    '/cluster',
    { config: { role: 'viewer' }, schema: { response: { 200: ClusterSchema, ...errorResponses } } },
    async () => opts.cluster.view(),
  );
};
