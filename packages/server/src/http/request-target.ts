/**
 * One canonical spelling for every request target, decided before anything routes the request.
 *
 * The router (find-my-way) reads absolute-form targets (`http://x/api/v1/users`), decodes
 * `%75sers` to `users` and so on, while code that looks at the raw URL string sees something else:
 * that gap let an absolute-form request skip authentication. So every consumer of the HTTP server
 * (Fastify, the WebSocket upgrade, Socket.IO) gets the same canonical origin-form path, and targets
 * that have no single meaning are refused (RFC 9112 §3.2, RFC 3986 §6.2.2):
 *
 * - only origin-form (`/path?query`) is accepted: absolute-form, authority-form (CONNECT) and
 *   asterisk-form (`OPTIONS *`) are refused: this server is not a proxy;
 * - percent-encoded unreserved characters are decoded (`%75` → `u`), as RFC 3986 says they are the
 *   same resource;
 * - duplicate slashes collapse (`//api//v1` → `/api/v1`);
 * - refused: a fragment (`#`), backslashes, encoded `/` or `\`, malformed `%` (400 `bad_url`), dot segments
 *   (`.`/`..`, also encoded): they mean different paths to different parsers.
 *
 * Everything else (case, a trailing slash, `;`) is kept: it routes nowhere (404), and unknown routes
 * are denied by default.
 */

export type TargetResult = { ok: true; url: string } | { ok: false; reason: string; code: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Canonical origin-form of a raw request target, or why it is refused. Pure. */
export function normalizeRequestTarget(raw: string | undefined): TargetResult {
  const refuse = (reason: string, code = 'bad_request_target'): TargetResult => ({ ok: false, reason, code });
  if (!raw) return refuse('the request target is empty');
  if (raw.charCodeAt(0) !== 47 /* '/' */) {
    return refuse('the request target must be a path such as /api/v1/health (origin-form); this server is not a proxy');
  }
  if (raw.includes('#')) return refuse('a request target must not contain a fragment (#)');
  const q = raw.indexOf('?');
  const rawPath = q === -1 ? raw : raw.slice(0, q);
  const query = q === -1 ? '' : raw.slice(q);
  if (rawPath.includes('\\')) return refuse('backslashes are not allowed in a path');
  let path = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath[i]!;
    if (c !== '%') {
      path += c;
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return refuse('malformed percent-encoding in the path', 'bad_url');
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    // An encoded NUL stays inside its segment (the route refuses it naming the parameter).
    if (ch === '/' || ch === '\\') return refuse('encoded slashes and backslashes are not allowed in a path');
    path += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  path = path.replace(/\/{2,}/g, '/');
  for (const segment of path.split('/')) {
    if (segment === '.' || segment === '..') return refuse('dot segments (/./ or /../) are not allowed in a path');
  }
  return { ok: true, url: path + query };
}

/** The path of a canonical target (what the router matches), without the query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
