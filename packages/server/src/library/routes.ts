import fs from 'node:fs';
import type {} from '@fastify/multipart';
import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, isDomainError, notFound } from '../errors.ts';
import { ErrorSchema, IdParams, errorResponses } from '../http/schemas.ts';
import type { FileLibrary } from './file-library.ts';
import type { FileRecord } from './types.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

const FilamentSchema = Type.Object({
  id: Type.Optional(Nullable(Type.Integer())),
  type: Type.String(),
  color: Type.String({ description: '#RRGGBB' }),
  grams: Nullable(Type.Number()),
  meters: Type.Optional(Nullable(Type.Number())),
});

const PlateSchema = Type.Object({
  index: Type.Integer(),
  gcodePath: NullableString,
  gcodeMd5: Type.Union([Type.String({ description: 'MD5 of the plate G-code, upper-case hex' }), Type.Null()]),
  estimatedSeconds: Nullable(Type.Number()),
  weightGrams: Nullable(Type.Number()),
  filaments: Type.Array(FilamentSchema),
  layerCount: Nullable(Type.Integer()),
  printerModel: NullableString,
  nozzleDiameter: Nullable(Type.Number()),
  hasThumbnail: Type.Boolean(),
  thumbnailUrl: NullableString,
});

export const FileRecordSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  size: Type.Integer(),
  sha256: Type.String(),
  md5: Type.String({ description: 'MD5 of the whole file (lower-case hex): what a Bambu printer checks' }),
  uploadedAt: Type.String({ format: 'date-time' }),
  kind: Type.Union([Type.Literal('3mf'), Type.Literal('gcode'), Type.Literal('bgcode')]),
  printerModel: NullableString,
  nozzleDiameter: Nullable(Type.Number()),
  plates: Type.Array(PlateSchema),
});

const ListQuery = Type.Object(
  {
    search: Type.Optional(Type.String({ maxLength: 200, description: 'case-insensitive substring of the name' })),
    sort: Type.Optional(Type.Union([Type.Literal('name'), Type.Literal('uploadedAt'), Type.Literal('size')])),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
  },
  { additionalProperties: false },
);

const ThumbnailParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  index: Type.Integer({ minimum: 1, maximum: 999 }),
});

const uploadErrors = { ...errorResponses, 413: ErrorSchema };

const UploadBody = Type.Object({
  file: Type.String({ format: 'binary', description: 'the sliced file: .gcode.3mf, .3mf with G-code, .gcode or .bgcode' }),
});

/**
 * The multipart parser (busboy) rejects a body without a boundary, or cut short, with a plain Error
 * (no status): that is the client's malformed request, a 400, not a server fault.
 */
async function asClientMultipartError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const e = err as { statusCode?: unknown; message?: unknown };
    if (!isDomainError(err) && typeof e?.statusCode !== 'number' && /multipart|part header|unexpected end of/i.test(String(e?.message ?? ''))) {
      throw badRequest(`file: the multipart/form-data body is malformed (${String(e.message)})`, 'malformed_multipart');
    }
    throw err;
  }
}

/** The upload's file name; busboy leaves it undefined for `filename=""`, and the type comes from it. */
function namedUpload(part: { filename?: string; file: NodeJS.ReadableStream }): string {
  if (!part.filename) {
    part.file.resume();
    throw badRequest('file: the uploaded file has no name; send it with its file name (e.g. "benchy.gcode.3mf")');
  }
  return part.filename;
}

/** Reads the one multipart file of a v1 upload and imports it. */
async function importUpload(request: FastifyRequest, library: FileLibrary) {
  if (!request.isMultipart()) throw badRequest('file: send multipart/form-data with the file in the field "file"');
  return asClientMultipartError(async () => {
    const part = await request.file();
    if (!part) throw badRequest('file: the multipart body has no file; put it in the field "file"');
    if (part.fieldname !== 'file') {
      part.file.resume();
      throw badRequest(`file: the file must be in the field "file", not "${part.fieldname}"`);
    }
    return library.importStream(namedUpload(part), part.file);
  });
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === etag || tag === '*';
  });
}

/**
 * /api/v1/files… (registered under the /api/v1 prefix). A second upload of bytes already in the
 * library answers 201 with the existing record (unchanged, its name kept) and
 * `X-Deduplicated: true`: the contract (docs/api.md) is "201 the file record", and the record the
 * client needs is that one.
 */
export async function fileRoutes(app: FastifyInstance, opts: { library: FileLibrary }): Promise<void> {
  const { library } = opts;

  app.post(
    '/files',
    {
      // The multipart body is read by the handler (request.file()), not validated by a schema; the
      // OpenAPI document still shows the one field a client must send.
      config: { swaggerTransform: ({ schema, url }) => ({ url, schema: { ...(schema as object), body: UploadBody } }) },
      schema: {
        summary: 'Upload a sliced file (.gcode.3mf, .3mf with G-code, .gcode, .bgcode)',
        consumes: ['multipart/form-data'],
        response: { 201: FileRecordSchema, ...uploadErrors },
      },
    },
    async (request, reply) => {
      const { file, created } = await importUpload(request, library);
      reply.code(201).header('Location', `/api/v1/files/${file.id}`);
      if (!created) reply.header('X-Deduplicated', 'true');
      return file;
    },
  );

  app.get(
    '/files',
    { schema: { summary: 'List library files', querystring: ListQuery, response: { 200: Type.Array(FileRecordSchema) } } },
    async (request) => library.list(request.query as Parameters<FileLibrary['list']>[0]),
  );

  app.get(
    '/files/:id',
    { schema: { params: IdParams, response: { 200: FileRecordSchema, ...errorResponses } } },
    async (request) => {
      const file = await library.getFile((request.params as { id: string }).id);
      if (!file) throw notFound('file');
      return file;
    },
  );

  app.patch(
    '/files/:id',
    {
      schema: {
        summary: 'Rename a file (the extension must stay)',
        params: IdParams,
        body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }, { additionalProperties: false }),
        response: { 200: FileRecordSchema, ...errorResponses },
      },
    },
    async (request) =>
      library.rename((request.params as { id: string }).id, (request.body as { name: string }).name),
  );

  app.delete(
    '/files/:id',
    {
      schema: {
        summary: 'Delete a file; 409 while a waiting or printing queue item uses it',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await library.delete((request.params as { id: string }).id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/files/:id/plates/:index/thumbnail',
    {
      schema: {
        summary: 'Plate thumbnail (PNG), cacheable: ETag from sha256 and plate, 304 on If-None-Match',
        params: ThumbnailParams,
        response: { 200: Type.String({ format: 'binary', description: 'image/png' }), 404: ErrorSchema },
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      const { id, index } = request.params as { id: string; index: number };
      const file = await library.getFile(id);
      if (!file) throw notFound('file');
      const thumb = await library.thumbnailPath(id, index);
      if (!thumb) throw notFound(`thumbnail of plate ${index}`);
      // The store is content-addressed: the same sha256 and plate always mean the same picture.
      const etag = `"${file.sha256}-${index}"`;
      reply.header('ETag', etag).header('Cache-Control', 'private, max-age=86400');
      if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
      return reply.type('image/png').send(fs.createReadStream(thumb));
    },
  );
}

const OCTOPRINT_VERSION = { api: '0.1', server: '1.10.0', text: 'OctoPrint 1.10.0 (RealWorldClaw)' };

/**
 * The OctoPrint-compatible subset slicers use for "send to OctoPrint" (PrusaSlicer, OrcaSlicer,
 * Cura's OctoPrint plugin): `GET /api/version` (slicers need `api`, and `text` starting with
 * "OctoPrint") and `POST /api/files/local` (multipart `file`, optional `print`, `select`, `path`).
 * Registered at the root; the app authenticates `/api/*` with X-Api-Key. `print=true` puts the file
 * in the queue through `onPrintRequested` (docs/octoprint-moonraker-obico.md §2).
 */
export async function octoprintCompatRoutes(
  app: FastifyInstance,
  opts: { library: FileLibrary; onPrintRequested?: (fileId: string) => Promise<void> },
): Promise<void> {
  const { library } = opts;

  app.get(
    '/api/version',
    {
      schema: {
        summary: 'OctoPrint-compatible version (for slicers)',
        response: { 200: Type.Object({ api: Type.String(), server: Type.String(), text: Type.String() }) },
      },
    },
    async () => OCTOPRINT_VERSION,
  );

  const LocalFile = Type.Object({
    name: Type.String(),
    path: Type.String(),
    origin: Type.String(),
    refs: Type.Object({ resource: Type.String(), download: Type.String() }),
  });

  app.post(
    '/api/files/local',
    {
      schema: {
        summary: 'OctoPrint-compatible upload (for slicers); print=true adds it to the queue',
        consumes: ['multipart/form-data'],
        response: {
          201: Type.Object({
            files: Type.Object({ local: LocalFile }),
            done: Type.Boolean(),
            effectiveSelect: Type.Boolean(),
            effectivePrint: Type.Boolean(),
          }),
          ...uploadErrors,
        },
      },
    },
    async (request, reply) => {
      if (!request.isMultipart()) throw badRequest('file: send multipart/form-data with the file in the field "file"');
      const fields: Record<string, string> = {};
      const imported = await asClientMultipartError(async () => {
        let found: { file: FileRecord; created: boolean } | null = null;
        for await (const part of request.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file' || found) {
              part.file.resume();
              throw badRequest(`file: send exactly one file, in the field "file" (got "${part.fieldname}")`);
            }
            found = await library.importStream(namedUpload(part), part.file);
          } else {
            fields[part.fieldname] = String(part.value ?? '');
          }
        }
        return found;
      });
      if (!imported) throw badRequest('file: no file in the upload; put it in the field "file"');
      const { file } = imported;
      const wantsPrint = fields.print?.toLowerCase() === 'true';
      let effectivePrint = false;
      if (wantsPrint && opts.onPrintRequested) {
        await opts.onPrintRequested(file.id);
        effectivePrint = true;
      }
      const origin = `${request.protocol}://${request.headers.host ?? 'localhost'}`;
      const resource = `${origin}/api/files/local/${encodeURIComponent(file.name)}`;
      reply.code(201).header('Location', resource);
      return {
        files: {
          local: {
            name: file.name,
            path: file.name,
            origin: 'local',
            refs: { resource, download: `${origin}/api/v1/files/${file.id}` },
          },
        },
        done: true,
        effectiveSelect: effectivePrint || fields.select?.toLowerCase() === 'true',
        effectivePrint,
      };
    },
  );
  // Cura's OctoPrint plugin may follow the upload's Location with {"command":"select","print":true}.
  app.post(
    '/api/files/local/:name',
    {
      schema: {
        summary: 'OctoPrint-compatible select/print of an uploaded file (adds it to the queue)',
        params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 255 }) }),
        body: Type.Object({ command: Type.String(), print: Type.Optional(Type.Boolean()) }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { name } = request.params as { name: string };
      const body = request.body as { command: string; print?: boolean };
      if (body.command !== 'select') throw badRequest(`command: only "select" is supported, got "${body.command}"`);
      const file = await library.findByName(name);
      if (!file) throw notFound(`file "${name}"`);
      if (body.print) {
        if (!opts.onPrintRequested) throw badRequest('print: this server does not queue prints from here');
        await opts.onPrintRequested(file.id);
      }
      return reply.code(204).send();
    },
  );
}
