/**
 * Which alerts a notifier sends. A notifier's `alerts` setting lists categories people think in
 * (printer error, queue paused, AI pause, queue finished), exact alert codes, or `*` for all.
 * Pure: the codes come from alerts/raise.ts callers across the server.
 */

/** The categories offered on the plugins page, with the alert codes each one covers. */
export const alertCategories = {
  /** A printer stopped with an error or a job went wrong on it. */
  printer_error: (code: string) =>
    /(^|_)(printer_error|print_error|firmware_error|hms)(_|$)/.test(code) ||
    ['queue_paused_printer_error', 'bambu_verify_failed', 'job_failed', 'start_not_confirmed', 'job_outcome_unknown', 'cancel_failed'].includes(code),
  /** The queue stopped starting jobs (any code starting with queue_paused). */
  queue_paused: (code: string) => code.startsWith('queue_paused'),
  /** The AI monitor paused (or wants to pause) a print: codes starting with ai_ and naming a pause or failure. */
  ai_pause: (code: string) => code.startsWith('ai_') && /pause|failure|defect|spaghetti/.test(code),
  /** The queue ran out of work. */
  queue_finished: (code: string) => code === 'queue_finished',
} as const;

export type AlertCategory = keyof typeof alertCategories;
export const allCategories = Object.keys(alertCategories) as AlertCategory[];

/** The categories an alert code belongs to (possibly none). */
export function categoriesOf(code: string): AlertCategory[] {
  return allCategories.filter((c) => alertCategories[c](code));
}

/** Whether a notifier subscribed to `wanted` (categories, codes or `*`) sends an alert with `code`. */
export function wantsAlert(wanted: readonly string[] | null | undefined, code: string): boolean {
  if (!wanted) return true;
  if (wanted.includes('*') || wanted.includes(code)) return true;
  return categoriesOf(code).some((c) => wanted.includes(c));
}

/** Alerts worth a camera frame: the picture shows what went wrong. */
export function wantsSnapshot(code: string): boolean {
  const c = categoriesOf(code);
  return c.includes('printer_error') || c.includes('ai_pause');
}
