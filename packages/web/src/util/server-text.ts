import { useI18n } from 'vue-i18n';
import { ApiRequestError } from '../api/http.ts';
import { live } from '../store/live.ts';
import { toEpochMs } from './time.ts';

/** A text the server sends with a stable code, so the UI can say it in the viewer's language. */
export interface CodedText {
  code?: string | null;
  message?: string | null;
  params?: Record<string, unknown> | null;
}

/**
 * Where the message tables keep server codes (docs/operator-api-*.md), per kind of text: the queue's
 * reasons in `queueReasons.*`, every other server code in `server.codes.*` (one flat table, the
 * server's catalogue). The first namespace with the code wins, so a code used by two kinds (e.g.
 * `plate_clear_wanted` as a waiting reason and as an alert) reads right in each.
 */
export const TEXT_KINDS = {
  wait: ['queueReasons.wait', 'drivers.waitReason', 'queueReasons.gate', 'ops.wait'],
  idle: ['queueReasons.idle', 'queueReasons.gate'],
  gate: ['queueReasons.gate', 'server.codes'],
  connection: ['server.codes'],
  alert: ['server.codes', 'drivers.alert'],
  event: ['server.codes'],
  error: ['queueReasons.errors', 'uploadErrors', 'server.codes', 'drivers.error'],
  notice: ['drivers.notice', 'server.codes'],
  stage: ['server.codes'],
  any: ['server.codes', 'queueReasons.errors', 'queueReasons.wait', 'queueReasons.gate', 'drivers.waitReason', 'drivers.alert', 'drivers.error', 'drivers.notice', 'uploadErrors'],
} as const;
export type TextKind = keyof typeof TEXT_KINDS;

/** Param values that are states with their own texts (a printer's status, a plugin's state). */
const STATE_PARAMS: Record<string, readonly string[]> = {
  status: ['status'],
  state: ['plugins.state', 'status'],
};

/** Param names whose string values are themselves codes (an alert's `reason` is a connection code). */
const CODED_PARAMS: Record<string, readonly string[]> = {
  reason: ['server.codes', 'drivers.error'],
  gateCode: ['queueReasons.gate', 'server.codes'],
  code: ['queueReasons.gate', 'server.codes'],
};

/**
 * `st(text, kind)`: the text for `code` in the viewer's language with its params filled in; the
 * server's own (English) message only when this build of the UI does not know the code.
 */
export function useServerText() {
  const { t, te, locale } = useI18n();
  const keyFor = (code: string, namespaces: readonly string[]) => namespaces.map((ns) => `${ns}.${code}`).find((k) => te(k)) ?? null;

  const printerName = (p: Record<string, unknown>) =>
    (typeof p.printerName === 'string' && p.printerName) || live.printers.find((x) => x.id === p.printerId)?.name || String(p.printerId ?? '');
  const filamentName = (f: Record<string, unknown>) => [f.type, f.color].filter(Boolean).join(' ');

  /** Turns arrays and objects into words vue-i18n can place: printer lists become names, filament lists "PLA #FF0000". */
  function flatParams(params: Record<string, unknown> | null | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params ?? {})) {
      if (Array.isArray(v)) {
        out[k] = v
          .map((x) => {
            if (x && typeof x === 'object') {
              const o = x as Record<string, unknown>;
              if ('printerId' in o || 'printerName' in o) return printerName(o);
              if ('type' in o || 'color' in o) return filamentName(o);
              return JSON.stringify(o);
            }
            return String(x);
          })
          .join(locale.value === 'zh-CN' ? '、' : ', ');
        out[`${k}Count`] = v.length;
      } else if (v && typeof v === 'object' && 'code' in (v as object)) {
        out[k] = st(v as CodedText, 'any');
      } else if (typeof v === 'string' && STATE_PARAMS[k] && keyFor(v, STATE_PARAMS[k])) {
        out[k] = t(keyFor(v, STATE_PARAMS[k])!);
      } else if (typeof v === 'string' && CODED_PARAMS[k]) {
        const key = keyFor(v, CODED_PARAMS[k]);
        out[k] = key ? t(key) : v;
      } else if (typeof v === 'string' && (k === 'until' || k === 'since') && toEpochMs(v) !== null) {
        out[k] = new Date(toEpochMs(v)!).toLocaleTimeString(locale.value, { hour: '2-digit', minute: '2-digit' });
      } else out[k] = v;
    }
    return out;
  }

  function st(text: CodedText | null | undefined, kind: TextKind = 'any'): string {
    if (!text) return '';
    const key = text.code ? keyFor(text.code, TEXT_KINDS[kind]) : null;
    if (!key) return text.message ?? text.code ?? '';
    return t(key, flatParams(text.params));
  }
  const known = (code: string | null | undefined, kind: TextKind = 'any') => !!code && keyFor(code, TEXT_KINDS[kind]) !== null;

  /** A failed request in words: its code translated, else the server's text (or "something went wrong"). */
  const errText = (err: unknown): string => {
    if (err instanceof ApiRequestError) {
      if (known(err.code, 'error')) return st({ code: err.code, message: err.message, params: err.params }, 'error');
      if (known(err.code)) return st({ code: err.code, message: err.message, params: err.params });
      return err.message || t('common.unknownError');
    }
    return err instanceof Error && err.message ? err.message : t('common.unknownError');
  };
  return { st, known, errText };
}
