/**
 * Fetches one camera picture over HTTP: a snapshot URL (any image body) or an MJPEG stream
 * (`multipart/x-mixed-replace`, mjpg-streamer / crowsnest / ustreamer / go2rtc), from which the
 * first complete JPEG (SOI 0xFFD8 … EOI 0xFFD9) is cut. Bounded in bytes and time.
 */

export class HttpImageError extends Error {
  constructor(
    readonly code:
      | 'camera_timeout'
      | 'camera_http_error'
      | 'camera_too_large'
      | 'camera_unreachable'
      | 'camera_bad_image',
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HttpImageError';
  }
}

export interface FetchImageOptions {
  timeoutMs?: number;
  maxBytes?: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

function findJpeg(buf: Buffer, from: number): { start: number; end: number } | null {
  const start = buf.indexOf(Buffer.from([0xff, 0xd8, 0xff]), from);
  if (start < 0) return null;
  const end = buf.indexOf(Buffer.from([0xff, 0xd9]), start + 3);
  if (end < 0) return { start, end: -1 };
  return { start, end: end + 2 };
}

/** GET `url` and return the image bytes (the first frame for an MJPEG stream). */
export async function fetchImage(url: string, opts: FetchImageOptions = {}): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxBytes = opts.maxBytes ?? 16 * 1024 * 1024;
  const ctrl = new AbortController();
  const timer = setTimeout(
    () => ctrl.abort(new HttpImageError('camera_timeout', `no picture from the camera within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onOuterAbort = () => ctrl.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    let res: Response;
    try {
      res = await fetch(url, { headers: opts.headers, signal: ctrl.signal, redirect: 'follow' });
    } catch (err) {
      if (ctrl.signal.aborted && ctrl.signal.reason instanceof HttpImageError) throw ctrl.signal.reason;
      throw new HttpImageError('camera_unreachable', `camera unreachable: ${(err as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new HttpImageError('camera_http_error', `camera answered HTTP ${res.status}`, res.status);
    }
    const declared = Number(res.headers.get('content-length'));
    const stream = /multipart\/x-mixed-replace/i.test(res.headers.get('content-type') ?? '');
    if (!stream && Number.isFinite(declared) && declared > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new HttpImageError(
        'camera_too_large',
        `camera picture of ${declared} bytes is over the ${maxBytes}-byte limit`,
      );
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const reader = res.body?.getReader();
    if (!reader) throw new HttpImageError('camera_bad_image', 'camera answered without a body');
    try {
      for (;;) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (err) {
          if (ctrl.signal.aborted && ctrl.signal.reason instanceof HttpImageError) throw ctrl.signal.reason;
          throw new HttpImageError('camera_unreachable', `camera stream broke: ${(err as Error).message}`);
        }
        if (next.done) break;
        chunks.push(Buffer.from(next.value));
        size += next.value.length;
        if (stream) {
          const buf = Buffer.concat(chunks);
          const found = findJpeg(buf, 0);
          if (found && found.end > 0) return Buffer.from(buf.subarray(found.start, found.end));
        }
        if (size > maxBytes) {
          throw new HttpImageError('camera_too_large', `camera picture is over the ${maxBytes}-byte limit`);
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    const body = Buffer.concat(chunks);
    if (stream) throw new HttpImageError('camera_bad_image', 'the MJPEG stream ended before a complete JPEG frame');
    if (body.length === 0) throw new HttpImageError('camera_bad_image', 'camera answered with an empty picture');
    return body;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
}
