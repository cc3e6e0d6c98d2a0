/**
 * Does a file fit a printer? Pure; every "no" says why with a stable code and params.
 *
 * The printer side is what the printer SAYS it is (`state.reported`: Bambu get_version product
 * name / project code and the full report's `nozzle_diameter`), the typed model and nozzle only as
 * a fallback (dispatcher.printerFit). Models compare by canonical name (library/printer-models.ts:
 * "X1 Carbon" = "X1C" = BL-P001).
 *
 * A sliced `.gcode.3mf` names its printer reliably (printer_model_id), and a Bambu printer checks
 * it: such a file never goes to a printer whose model is not known (it waits with
 * `printer_model_unknown`), nor to one whose nozzle is not known (`printer_nozzle_unknown`). A plain
 * G-code header's printer name is free text and a Marlin/Klipper printer's model is whatever the
 * user typed, so for those only a known nozzle is compared — except a G-code sliced for a Bambu
 * model (its header says `printer_model = Bambu Lab A1 mini`): Bambu start/end G-code would run on a
 * Marlin/Klipper printer, so it fits only that model unless the user picks the printer (the
 * caller then drops the model from the file's FitSpec, see dispatcher.itemFit).
 */
import { findBambuModel, modelKey as computeModelKey } from '../library/printer-models.ts';
import type { FitSpec } from './types.ts';

/**
 * Model keys memoised: the reasons ask fitProblem for every (item group × printer), and a key is
 * a few regex passes. Names are few (models the farm has and files name); the cache is capped.
 */
const keys = new Map<string, string | null>();
const isBambuName = new Map<string, boolean>();
function modelKey(name: string | null | undefined): string | null {
  if (!name) return null;
  let k = keys.get(name);
  if (k === undefined) {
    if (keys.size > 5000) keys.clear();
    k = computeModelKey(name);
    keys.set(name, k);
  }
  return k;
}
function namesBambuModel(name: string): boolean {
  let b = isBambuName.get(name);
  if (b === undefined) {
    if (isBambuName.size > 5000) isBambuName.clear();
    b = findBambuModel(name) !== null;
    isBambuName.set(name, b);
  }
  return b;
}

export type FitProblemCode =
  | 'file_kind_unsupported'
  | 'printer_model_unknown'
  | 'printer_model_mismatch'
  | 'printer_nozzle_unknown'
  | 'printer_nozzle_mismatch';

export interface FitProblem {
  code: FitProblemCode;
  /** English text (the UI translates by code + params). */
  message: string;
  params: Record<string, unknown>;
  /**
   * True when the printer as it is can never take the file (another model, nozzle or file kind);
   * false when it only has not said yet what it is (it may fit once it reports).
   */
  definite: boolean;
}

const SAME_NOZZLE_MM = 0.001;

/** Why `file` does not fit `printer`, or null when it fits. */
export function fitProblem(file: FitSpec, printer: FitSpec): FitProblem | null {
  if (file.kind && printer.kinds && !printer.kinds.includes(file.kind)) {
    return {
      code: 'file_kind_unsupported',
      message: `the printer does not print .${file.kind} files`,
      params: { kind: file.kind, printerKinds: [...printer.kinds] },
      definite: true,
    };
  }
  const sliced = !file.kind || file.kind === '3mf';
  const fm = modelKey(file.model);
  if (sliced && fm) {
    const pm = modelKey(printer.model);
    if (!pm) {
      return {
        code: 'printer_model_unknown',
        message: `the file is sliced for ${file.model}, and the printer has not said which model it is`,
        params: { fileModel: file.model },
        definite: false,
      };
    }
    if (fm !== pm) {
      return {
        code: 'printer_model_mismatch',
        message: `the file is sliced for ${file.model}, the printer is ${printer.model}`,
        params: { fileModel: file.model, printerModel: printer.model },
        definite: true,
      };
    }
  }
  if (!sliced && fm && namesBambuModel(file.model!) && modelKey(printer.model) !== fm) {
    return {
      code: 'printer_model_mismatch',
      message: `the G-code is sliced for ${file.model}, the printer is ${printer.model ?? 'another model'} (pick the printer yourself to print it anyway)`,
      params: { fileModel: file.model, printerModel: printer.model ?? null },
      definite: true,
    };
  }
  if (file.nozzleDiameter != null) {
    if (printer.nozzleDiameter == null) {
      if (sliced && fm) {
        return {
          code: 'printer_nozzle_unknown',
          message: `the file is sliced for a ${file.nozzleDiameter} mm nozzle, and the printer has not said which nozzle it has`,
          params: { fileNozzle: file.nozzleDiameter },
          definite: false,
        };
      }
    } else if (Math.abs(file.nozzleDiameter - printer.nozzleDiameter) > SAME_NOZZLE_MM) {
      return {
        code: 'printer_nozzle_mismatch',
        message: `the file is sliced for a ${file.nozzleDiameter} mm nozzle, the printer has ${printer.nozzleDiameter} mm`,
        params: { fileNozzle: file.nozzleDiameter, printerNozzle: printer.nozzleDiameter },
        definite: true,
      };
    }
  }
  return null;
}

export interface WaitReason {
  code: string;
  message: string;
  params: Record<string, unknown>;
}

/**
 * Why an item waits when no printer fits it (null when at least one does, or there are no
 * printers to ask). When some printer only has not said what it is yet, that is the reason
 * (`printer_model_unknown` / `printer_nozzle_unknown`: it may fit once it reports); otherwise
 * `no_printer_fits` with the problem of each printer in params.
 */
export function noFitReason(
  file: FitSpec,
  printers: ReadonlyArray<{ id: string; name: string; fit: FitSpec }>,
): WaitReason | null {
  if (printers.length === 0) return null;
  const problems: Array<{ printerId: string; printerName: string } & FitProblem> = [];
  for (const p of printers) {
    const problem = fitProblem(file, p.fit);
    if (!problem) return null;
    problems.push({ printerId: p.id, printerName: p.name, ...problem });
  }
  const pending = problems.filter((p) => !p.definite);
  if (pending.length > 0) {
    const first = pending[0];
    return {
      code: first.code,
      message: `waiting: ${first.message} (${pending.map((p) => p.printerName).join(', ')})`,
      params: { ...first.params, printerIds: pending.map((p) => p.printerId) },
    };
  }
  return {
    code: 'no_printer_fits',
    message: `no printer fits this file: ${problems.map((p) => `${p.printerName}: ${p.message}`).join('; ')}`,
    params: {
      fileModel: file.model ?? null,
      fileNozzle: file.nozzleDiameter ?? null,
      printers: problems.map((p) => ({ printerId: p.printerId, code: p.code, params: p.params })),
    },
  };
}
