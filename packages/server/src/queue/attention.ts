/**
 * Why a printer waits for a person (the gate's `attention` reason), kept in the queue's key/value
 * rows. Stored as JSON with a stable code and params so the UI can say it in the viewer's language;
 * rows written before the code existed hold the bare English text and still read.
 */
export interface AttentionReason {
  /** `job_outcome_unknown_restart`, `job_outcome_unknown_removed`, or null for an old bare text. */
  code: string | null;
  message: string;
  params: Record<string, unknown>;
}

/** The stored form of an attention reason. */
export function encodeAttention(reason: AttentionReason): string {
  return JSON.stringify(reason);
}

/** Reads a stored attention reason (JSON, or a bare text from before the code existed). */
export function decodeAttention(stored: string): AttentionReason {
  if (stored.startsWith('{')) {
    try {
      const r = JSON.parse(stored) as Partial<AttentionReason>;
      if (typeof r.message === 'string') return { code: r.code ?? null, message: r.message, params: r.params ?? {} };
    } catch {
      // not JSON after all: a bare text
    }
  }
  return { code: null, message: stored, params: {} };
}
