/**
 * HTTP byte ranges (RFC 9110 §14) for the agent file download: a single `bytes=a-b`, `bytes=a-` or
 * `bytes=-n`. Multiple ranges are not needed by the agent and are answered with the whole file.
 */
export type RangeResult = { start: number; end: number } | 'unsatisfiable' | null;

/** null = send everything (no or unsupported header); inclusive `end`. */
export function parseByteRange(header: string | undefined, size: number): RangeResult {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
