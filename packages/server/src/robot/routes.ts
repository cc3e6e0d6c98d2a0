import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type {} from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DomainError, badRequest, isDomainError } from '../errors.ts';
import { ErrorSchema, errorResponses } from '../http/schemas.ts';
import { inspectProjectZip } from './project-zip.ts';
import { sha256File } from './projects.ts';
import { parseRequirements } from './requirements.ts';
import type { RobotRuntime } from './runtime.ts';

const AckSchema = Type.Object({
  status: Type.Union([Type.Literal('success'), Type.Literal('error')]),
  message: Type.String(),
  data: Type.Any(),
});

/**
 * /api/v1/robot…: status (who is in control, the project and its methods, the worker), project
 * upload for big ZIPs (then `update {projectId}` over the socket), an HTTP e-stop (for when the
 * socket is not at hand), and the admin's requirements install.
 */
export async function robotRoutes(app: FastifyInstance, opts: { runtime: RobotRuntime }): Promise<void> {
  const rt = opts.runtime;

  app.get(
    '/robot',
    {
      schema: {
        description: 'The robot: who is in control, the loaded project and its methods, the worker state',
        response: { 200: Type.Object({}, { additionalProperties: true }), ...errorResponses },
      },
    },
    async () => rt.status(),
  );

  app.post(
    '/robot/projects',
    {
      config: { role: 'operator' },
      schema: {
        description:
          'Uploads a project ZIP (multipart, field "file"); answers its projectId for the Socket.IO `update {projectId}`',
        consumes: ['multipart/form-data'],
        response: { 201: Type.Object({}, { additionalProperties: true }), 413: ErrorSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw badRequest('file: send multipart/form-data with the ZIP in the field "file"');
      const limit = rt.config.robotMaxProjectBytes;
      let part: Awaited<ReturnType<typeof request.file>>;
      try {
        part = await request.file({ limits: { fileSize: limit, files: 1 } });
      } catch (err) {
        throw badRequest(`file: the multipart body is malformed (${(err as Error).message})`, 'malformed_multipart');
      }
      if (!part) throw badRequest('file: the multipart body has no file; put the ZIP in the field "file"');
      if (part.fieldname !== 'file') {
        part.file.resume();
        throw badRequest(`file: the ZIP must be in the field "file", not "${part.fieldname}"`);
      }
      const { id, file } = rt.store.newUpload();
      try {
        await pipeline(part.file, fs.createWriteStream(file));
        if (part.file.truncated) {
          throw new DomainError('too_large', 'too_large', `the project ZIP is over the limit of ${limit} bytes (RWC_ROBOT_MAX_PROJECT_BYTES)`);
        }
        const facts = await inspectProjectZip(file, rt.store.limits);
        const name = (part.filename || 'project.zip').slice(0, 200);
        fs.writeFileSync(`${file}.name`, name);
        const size = fs.statSync(file).size;
        return reply.status(201).send({
          projectId: id,
          name,
          size,
          sha256: await sha256File(file),
          entry: facts.entry,
          language: facts.entry.endsWith('.py') ? 'python' : 'node',
          files: facts.files,
          unpackedBytes: facts.bytes,
          requirements: facts.requirements === null ? null : parseRequirements(facts.requirements),
        });
      } catch (err) {
        fs.rmSync(file, { force: true });
        if (isDomainError(err) && err.code === 'invalid_project') throw badRequest(`file: ${err.message}`, 'invalid_project');
        throw err;
      }
    },
  );

  app.post(
    '/robot/estop',
    {
      config: { role: 'operator' },
      schema: { description: "E-stop: runs the project's stop() at once (time-boxed, then the worker is killed)", response: { 200: AckSchema, ...errorResponses } },
    },
    async (request) => rt.estop(request.user!),
  );

  app.post(
    '/robot/requirements',
    {
      config: { role: 'admin' },
      schema: {
        description: "Admin: installs the current project's requirements.txt into its own venv and restarts the worker",
        response: { 200: Type.Object({}, { additionalProperties: true }), 503: ErrorSchema, ...errorResponses },
      },
    },
    async (request) => {
      const result = await rt.installRequirements(request.user!);
      return { installed: true, venv: result.venv, packages: result.report.packages, loadError: result.loadError, project: rt.status().project };
    },
  );
}
