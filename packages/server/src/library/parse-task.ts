import { isDomainError } from '../errors.ts';
import { parseFile } from './parse-file.ts';
import type { FileKind, ParseResult } from './types.ts';
import type { ZipLimits } from './zip-safety.ts';

/** What the main thread sends a parse worker. */
export interface ParseTask {
  file: string;
  kind: FileKind;
  limits: ZipLimits;
}

/** An error as it crosses the thread boundary (class identity and extra fields do not survive cloning). */
export interface ParseTaskError {
  domain: boolean;
  kind?: string;
  code?: string;
  message: string;
  params?: Record<string, unknown>;
}

export type ParseTaskOutcome = { ok: true; result: ParseResult } | { ok: false; error: ParseTaskError };

/** The parse worker's task (loaded by parse-worker.mjs): parse one stored upload, never throw. */
export default async function parseTask(task: ParseTask): Promise<ParseTaskOutcome> {
  try {
    return { ok: true, result: await parseFile(task.file, task.kind, { limits: task.limits }) };
  } catch (err) {
    if (isDomainError(err)) {
      return { ok: false, error: { domain: true, kind: err.kind, code: err.code, message: err.message, params: err.params } };
    }
    return { ok: false, error: { domain: false, message: err instanceof Error ? err.message : String(err) } };
  }
}
