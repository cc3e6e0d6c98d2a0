import { Type } from '@sinclair/typebox';

/** Shared JSON schemas (TypeBox builds plain JSON Schema, which Fastify validates and OpenAPI lists). */
export const ErrorSchema = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
    /** Values a translated message needs (limits, names), when the error has any. */
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

export const errorResponses = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
};
