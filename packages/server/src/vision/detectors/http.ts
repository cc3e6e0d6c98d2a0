/**
 * JSON over HTTP for detector adapters: bounded time and size, and errors that say what went
 * wrong (timeout, HTTP status with the service's message, not JSON). Never throws anything but
 * DetectorError, so the caller records one clear reason.
 */

export class DetectorError extends Error {
  constructor(
    readonly code:
      | 'detector_timeout'
      | 'detector_http_error'
      | 'detector_bad_answer'
      | 'detector_unreachable'
      | 'detector_unavailable'
      | 'detector_failed',
    message: string,
  ) {
    super(message);
    this.name = 'DetectorError';
  }
}

const MAX_ANSWER = 4 * 1024 * 1024;

export async function requestJson(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string>;
    body?: unknown;
    timeoutMs: number;
    signal?: AbortSignal;
    what: string;
  },
): Promise<unknown> {
  const ctrl = new AbortController();
  const timedOut = new DetectorError(
    'detector_timeout',
    `${opts.what}: no answer within ${Math.round(opts.timeoutMs / 100) / 10} s`,
  );
  const timer = setTimeout(() => ctrl.abort(timedOut), opts.timeoutMs);
  const outer = () => ctrl.abort(new DetectorError('detector_failed', `${opts.what}: cancelled`));
  opts.signal?.addEventListener('abort', outer, { once: true });
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
        headers: {
          accept: 'application/json',
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(opts.headers ?? {}),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: ctrl.signal,
      });
    } catch (err) {
      if (ctrl.signal.aborted && ctrl.signal.reason instanceof DetectorError) throw ctrl.signal.reason;
      throw new DetectorError(
        'detector_unreachable',
        `${opts.what}: cannot reach ${new URL(url).origin}: ${(err as Error).message}`,
      );
    }
    let text: string;
    try {
      const declared = Number(res.headers.get('content-length'));
      if (Number.isFinite(declared) && declared > MAX_ANSWER) {
        await res.body?.cancel().catch(() => {});
        throw new DetectorError('detector_bad_answer', `${opts.what}: answer of ${declared} bytes is too large`);
      }
      text = await res.text();
    } catch (err) {
      if (err instanceof DetectorError) throw err;
      if (ctrl.signal.aborted && ctrl.signal.reason instanceof DetectorError) throw ctrl.signal.reason;
      throw new DetectorError('detector_unreachable', `${opts.what}: the answer broke off: ${(err as Error).message}`);
    }
    if (text.length > MAX_ANSWER) throw new DetectorError('detector_bad_answer', `${opts.what}: answer is too large`);
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const msg =
        (json as { message?: unknown; error?: { message?: unknown } } | undefined)?.message ??
        (json as any)?.error?.message;
      throw new DetectorError(
        'detector_http_error',
        `${opts.what}: HTTP ${res.status}${typeof msg === 'string' && msg ? ` (${msg.slice(0, 200)})` : ''}`,
      );
    }
    if (json === undefined) throw new DetectorError('detector_bad_answer', `${opts.what}: the answer is not JSON`);
    return json;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', outer);
  }
}

/** A finite number in [0, 1], or null. */
export function confidenceOf(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1 ? v : null;
}
