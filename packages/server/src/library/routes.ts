import fs from 'node:fs';
import type {} from '@fastify/multipart';
import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, isDomainError, notFound } from '../errors.ts';
import { ErrorSchema, IdParams, errorResponses } from '../http/schemas.ts';
import type { FileLibrary, ReceivedUpload } from './file-library.ts';
import type { FileRecord } from './types.ts';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const NullableString = Type.Union([Type.String(), Type.Null()]);

const FilamentSchema = Type.Object({
  id: Type.Optional(Nullable(Type.Integer())),
  type: Type.String(),
  color: Type.Union([Type.String({ pattern: '^#[0-9A-F]{6}$', description: '#RRGGBB' }), Type.Null()]),
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

const uploadErrors = { ...errorResponses, 413: ErrorSchema, 503: ErrorSchema, 507: ErrorSchema };

const UploadBody = Type.Object({
  file: Type.String({ format: 'binary', description: 'the sliced file: .gcode.3mf, .3mf with G-code, .gcode or .bgcode' }),
});

/**
 * The multipart parser (busboy) rejects a body without a boundary, or cut short, with a plain Error
 * (no status): that is the client's malformed request, a 400, not a server fault. A second file
 * part trips the parser's one-file limit (FST_FILES_LIMIT): a 400 `multiple_files` too.
 */
function asClientMultipartError(err: unknown): unknown {
  const e = err as { statusCode?: unknown; message?: unknown; code?: unknown };
  if (isDomainError(err)) return err;
  if (e?.code === 'FST_FILES_LIMIT') return multipleFiles();
  if (typeof e?.statusCode !== 'number' && /multipart|part header|unexpected end of/i.test(String(e?.message ?? ''))) {
    return badRequest(`file: the multipart/form-data body is malformed (${String(e.message)})`, 'malformed_multipart');
  }
  return err;
}

const multipleFiles = () =>
  badRequest('file: send exactly one file per upload, in the field "file" (this request has more than one)', 'multiple_files');

/** The upload's file name; busboy leaves it undefined for `filename=""`, and the type comes from it. */
function namedUpload(part: { filename?: string; file: NodeJS.ReadableStream }): string {
  if (!part.filename) {
    part.file.resume();
    throw badRequest('file: the uploaded file has no name; send it with its file name (e.g. "benchy.gcode.3mf")', 'file_name_missing');
  }
  return part.filename;
}

/** The request's Content-Length (an upper bound of the file's size, for the free-space check). */
function declaredLength(request: FastifyRequest): number | null {
  const n = Number(request.headers['content-length']);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * Reads a whole multipart upload: exactly one file, in the field "file", received into the
 * library's incoming dir, plus the text fields. Only once the body has been read to its end is the
 * file handed back (so a second file part, even after the first, refuses the upload: nothing is
 * stored). The caller imports or discards what it gets.
 */
async function readUpload(
  request: FastifyRequest,
  library: FileLibrary,
): Promise<{ upload: ReceivedUpload; fields: Record<string, string> }> {
  if (!request.isMultipart()) throw badRequest('file: send multipart/form-data with the file in the field "file"', 'not_multipart');
  const fields: Record<string, string> = {};
  let upload: ReceivedUpload | null = null;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (upload) {
          part.file.resume();
          throw multipleFiles();
        }
        if (part.fieldname !== 'file') {
          part.file.resume();
          throw badRequest(`file: the file must be in the field "file", not "${part.fieldname}"`, 'wrong_file_field', { field: part.fieldname });
        }
        upload = await library.receive(namedUpload(part), part.file, declaredLength(request));
      } else {
        fields[part.fieldname] = String(part.value ?? '');
      }
    }
  } catch (err) {
    if (upload) await library.discardReceived(upload);
    throw asClientMultipartError(err);
  }
  if (!upload) throw badRequest('file: the multipart body has no file; put it in the field "file"', 'file_missing');
  return { upload, fields };
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
      const { upload } = await readUpload(request, library);
      const { file, created } = await library.importReceived(upload);
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

/**
 * OrcaSlicer and Bambu Studio name the plate of a `.gcode.3mf` in the form field `plateindex`
 * (1-based, OrcaSlicer PR 14404). Absent or empty: null.
 */
function parsePlateIndex(raw: string | undefined): number | null {
  if (raw === undefined || raw.trim() === '') return null;
  const t = raw.trim();
  if (!/^\d{1,3}$/.test(t) || Number(t) < 1) {
    throw badRequest(`plateindex: must be a plate number from 1 to 999, got "${t.slice(0, 20)}"`, 'invalid_plateindex', { value: t.slice(0, 20) });
  }
  return Number(t);
}

/**
 * The plate an OctoPrint-style print request queues: the one the slicer named, else the file's only
 * sliced plate (a `.gcode.3mf` of plate 4 alone has no plate 1), else its first.
 */
function platePrinted(file: FileRecord, requested: number | null): number {
  const indexes = file.plates.map((p) => p.index).sort((a, b) => a - b);
  if (requested !== null) {
    if (indexes.length === 0 || indexes.includes(requested)) return requested;
    throw badRequest(
      `plateindex: ${file.name} has no plate ${requested} (its sliced plates: ${indexes.join(', ')}); the file was stored in the library`,
      'plate_not_in_file',
      { plate: requested, plates: indexes, fileId: file.id },
    );
  }
  return indexes[0] ?? 1;
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
  opts: { library: FileLibrary; onPrintRequested?: (fileId: string, plate: number) => Promise<void> },
): Promise<void> {
  const { library } = opts;
  /** fileId → the plate a slicer named at upload, for a later select/print of the same file. */
  const namedPlates = new Map<string, number>();
  const rememberPlate = (fileId: string, plate: number) => {
    namedPlates.delete(fileId);
    namedPlates.set(fileId, plate);
    if (namedPlates.size > 1000) namedPlates.delete(namedPlates.keys().next().value!);
  };

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
      const { upload, fields } = await readUpload(request, library);
      let requested: number | null;
      try {
        requested = parsePlateIndex(fields.plateindex);
      } catch (err) {
        await library.discardReceived(upload);
        throw err;
      }
      const { file } = await library.importReceived(upload);
      const wantsPrint = fields.print?.toLowerCase() === 'true';
      let effectivePrint = false;
      if (wantsPrint && opts.onPrintRequested) {
        await opts.onPrintRequested(file.id, platePrinted(file, requested));
        effectivePrint = true;
      } else if (requested !== null && file.plates.some((p) => p.index === requested)) {
        rememberPlate(file.id, requested);
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
        if (!opts.onPrintRequested) throw badRequest('print: this server does not queue prints from here', 'print_unsupported');
        await opts.onPrintRequested(file.id, platePrinted(file, namedPlates.get(file.id) ?? null));
      }
      return reply.code(204).send();
    },
  );
}
