import { ApiError } from '../http/errors.ts';

/**
 * A file the library refuses: corrupt, hostile, or not a sliced print. Always 400 `invalid_file`
 * with a message a user can act on; the server keeps running and nothing is written.
 */
export function invalidFile(message: string): ApiError {
  return new ApiError(400, 'invalid_file', message);
}

/** The refusal for a Bambu/Orca project file: it holds models, not G-code. */
export const NOT_SLICED_MESSAGE =
  'this .3mf is a project file with no G-code inside: in Bambu Studio or OrcaSlicer, slice the plate and export a plate sliced file (File > Export > Export plate sliced file, .gcode.3mf), then upload that';
