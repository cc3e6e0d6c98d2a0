import { useI18n } from 'vue-i18n';
import { ApiRequestError } from '../api/http.ts';

/** A text the server sends with a stable code, so the UI can say it in the viewer's language. */
export interface CodedText {
  code?: string | null;
  message?: string | null;
  params?: Record<string, unknown> | null;
}

/**
 * Where the message tables keep server codes, tried in order. `server.*` is the general table
 * (errors, alerts, events, connection notes); the drivers part keeps its own namespaces.
 */
const NAMESPACES = ['server', 'ops.wait', 'drivers.waitReason', 'drivers.alert', 'drivers.error', 'drivers.notice'];

/** Params as vue-i18n wants them: strings and numbers; nested coded params are translated first. */
function flatParams(params: Record<string, unknown> | null | undefined, tr: (c: CodedText) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v && typeof v === 'object' && 'code' in (v as object)) out[k] = tr(v as CodedText);
    else if (Array.isArray(v)) out[k] = v.join(', ');
    else out[k] = v;
  }
  return out;
}

/**
 * `st(text)`: the text for `code` in the viewer's language with its params filled in; the server's
 * own message only when the code is unknown to this build of the UI (a newer server).
 */
export function useServerText() {
  const { t, te } = useI18n();
  const keyFor = (code: string, namespaces: string[]) => namespaces.map((ns) => `${ns}.${code}`).find((k) => te(k)) ?? null;
  const st = (text: CodedText | null | undefined, namespaces: string[] = NAMESPACES): string => {
    if (!text) return '';
    const key = text.code ? keyFor(text.code, namespaces) : null;
    if (!key) return text.message ?? text.code ?? '';
    return t(key, flatParams(text.params, (c) => st(c, namespaces)));
  };
  const known = (code: string | null | undefined) => !!code && keyFor(code, NAMESPACES) !== null;
  /** A failed request in words: its code translated, else the generic "something went wrong" plus the server's text. */
  const errText = (err: unknown): string => {
    if (err instanceof ApiRequestError) {
      if (known(err.code)) return st({ code: err.code, message: err.message, params: err.params });
      return err.message || t('common.unknownError');
    }
    return err instanceof Error && err.message ? err.message : t('common.unknownError');
  };
  return { st, known, errText };
}
