import { DomainError } from '../errors.ts';

/**
 * A file the library refuses: corrupt, hostile, or not a sliced print. Always 400 `invalid_file`
 * with a message a user can act on; the server keeps running and nothing is written.
 */
export function invalidFile(message: string, params: Record<string, unknown> = {}): DomainError {
  return new DomainError('invalid', 'invalid_file', message, params);
}
export const NOT_SLICED_MESSAGE =
  'this .3mf is a project file with no G-code inside: in Bambu Studio or OrcaSlicer, slice the plate and export a plate sliced file (File > Export > Export plate sliced file, .gcode.3mf), then upload that';
