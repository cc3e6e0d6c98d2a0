/** Small helpers every bench shares: numeric flags and JSON calls to a server's API. */

/** `--name N` from the bench's arguments; `fallback` when the flag or its value is missing. */
export function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

/** One JSON API call; throws with the status and body on anything but 2xx. */
export async function api(url: string, method: string, p: string, body?: unknown, token?: string): Promise<any> {
  const res = await fetch(url + p, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
