/**
 * JSON Schema checks for what plugins declare: config schemas, entry inputs, printer connections.
 * One Ajv (draft-07 / 2019 keywords, formats) with defaults filled in; `secret` is allowed as an
 * annotation next to the standard `writeOnly`.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ValidationError } from '../errors.ts';

const ajv = new Ajv({ strict: false, useDefaults: true, allErrors: false, coerceTypes: false });
// ajv-formats is CommonJS: its function sits on .default under NodeNext interop.
((addFormatsModule as any).default ?? addFormatsModule)(ajv);

const cache = new WeakMap<object, ValidateFunction>();

/** Compiles (and caches) a schema; throws when the schema itself is invalid. */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

/**
 * Checks `value` against `schema` and returns a copy with defaults applied. Throws a
 * ValidationError whose field is `root.path.to.field` (e.g. `config.url`).
 */
export function validateAgainst<T = unknown>(schema: Record<string, unknown>, value: unknown, root: string): T {
  const copy = value === undefined ? undefined : structuredClone(value);
  const fn = compileSchema(schema);
  if (fn(copy)) return copy as T;
  const e = fn.errors![0]!;
  const at = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  let field = at ? `${root}.${at}` : root;
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'required') {
    field = `${field}.${(e.params as { missingProperty: string }).missingProperty}`;
    message = 'is required';
  } else if (e.keyword === 'additionalProperties') {
    field = `${field}.${(e.params as { additionalProperty: string }).additionalProperty}`;
    message = 'is not a known field';
  } else if (e.keyword === 'enum') {
    message = `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
  }
  throw new ValidationError(field, message);
}
