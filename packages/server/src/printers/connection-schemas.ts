/**
 * One JSON Schema per built-in driver kind for the `connection` object (docs/api.md, Printers):
 * unknown fields are refused with a 400 naming them, strings are bounded, and nesting is flat by
 * construction (the JSON parser already refuses bodies nested deeper than 64 levels). The
 * driver's own validateConnection then checks meaning (ports in range, URL forms, ...).
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { ValidationError } from '../errors.ts';

const Str = (max = 255) => Type.String({ maxLength: max });
const Port = Type.Integer();
const Num = Type.Number();
const Gcode = Type.Union([Type.String({ maxLength: 64 * 1024 }), Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 1000 })]);
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const closed = (props: Record<string, TSchema>) =>
  Type.Object(
    Object.fromEntries(Object.entries(props).map(([k, v]) => [k, Type.Optional(v)])),
    { additionalProperties: false },
  );

const marlinTuning = {
  okTimeoutMs: Num,
  maxConsecutiveTimeouts: Num,
  maxInFlight: Num,
  rxBudgetBytes: Num,
  printFrom: Str(10),
  pauseGcode: Gcode,
  resumeGcode: Gcode,
  cancelGcode: Gcode,
};
const moonrakerTuning = { apiKey: Nullable(Str(512)), auth: Str(20), startConfirmSeconds: Num };

export const connectionSchemas: Record<string, TSchema> = {
  bambu: closed({
    host: Str(),
    serial: Str(64),
    accessCode: Str(64),
    mqttPort: Port,
    ftpsPort: Port,
    cameraPort: Port,
    insecureTls: Type.Boolean(),
    caCertPem: Nullable(Str(64 * 1024)),
    model: Nullable(Str(50)),
  }),
  'simulated-bambu': closed({ model: Nullable(Str(50)), timeScale: Num, printSeconds: Num, serial: Str(64), accessCode: Str(64) }),
  marlin: closed({ url: Str(), path: Str(), baudRate: Num, ...marlinTuning, model: Nullable(Str(50)) }),
  'simulated-marlin': closed({
    ...marlinTuning,
    baudRate: Num,
    bufferSize: Num,
    latencyMs: Num,
    timeScale: Num,
    advancedOk: Type.Boolean(),
    model: Nullable(Str(50)),
  }),
  moonraker: closed({ url: Str(), ...moonrakerTuning, model: Nullable(Str(50)) }),
  'simulated-moonraker': closed({ timeScale: Num, printSeconds: Num, ...moonrakerTuning, model: Nullable(Str(50)) }),
};

const ajv = new Ajv({ allErrors: false, strict: false });
const compiled = new Map<TSchema, ReturnType<typeof ajv.compile>>();

function fieldOf(e: ErrorObject): { field: string; message: string } {
  const at = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const base = at ? `connection.${at}` : 'connection';
  if (e.keyword === 'additionalProperties') {
    return { field: `${base}.${(e.params as { additionalProperty: string }).additionalProperty}`, message: 'is not a known field for this driver' };
  }
  return { field: base, message: e.message ?? 'is invalid' };
}

/** Checks `connection` against the driver's schema; throws a ValidationError naming the field. */
export function checkConnectionShape(schema: TSchema | undefined, connection: unknown): void {
  if (!schema) return;
  if (typeof connection !== 'object' || connection === null || Array.isArray(connection)) {
    throw new ValidationError('connection', 'must be an object');
  }
  let validate = compiled.get(schema);
  if (!validate) compiled.set(schema, (validate = ajv.compile(schema)));
  if (!validate(connection)) {
    const { field, message } = fieldOf(validate.errors![0]!);
    throw new ValidationError(field, message);
  }
}
