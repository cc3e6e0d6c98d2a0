/**
 * The WebSocket delta mode's patch format (`printers.patch`, docs/operator-api-printers.md): a JSON
 * merge patch (RFC 7386) of the presented printer state, except that `null` means "null or gone"
 * (the state never tells the two apart). Objects are patched key by key, arrays and other values are
 * replaced whole. Pure functions; the web UI and the fleet bench apply patches the same way.
 */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Structural equality of two JSON values (key order ignored; a null key = a missing key). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    // A key holding null and a missing key are the same state.
    const ka = Object.keys(a).filter((k) => a[k] !== undefined && a[k] !== null);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined && b[k] !== null);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * What turns `prev` into `next`, or undefined when they are equal. A key gone from `next` is sent as
 * null. `prev` undefined = the whole of `next`.
 */
export function diffState(prev: unknown, next: unknown): unknown {
  if (!isObject(prev) || !isObject(next)) return jsonEqual(prev, next) ? undefined : (next ?? null);
  const out: Record<string, unknown> = {};
  let any = false;
  for (const [k, v] of Object.entries(next)) {
    if (v === undefined) continue;
    const d = isObject(v) && isObject(prev[k]) ? diffState(prev[k], v) : jsonEqual(prev[k], v) ? undefined : v;
    if (d !== undefined) {
      out[k] = d;
      any = true;
    }
  }
  for (const k of Object.keys(prev)) {
    if (prev[k] !== undefined && prev[k] !== null && (!(k in next) || next[k] === undefined)) {
      out[k] = null;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** Applies a patch from diffState in place (objects key by key, everything else replaced); returns the result. */
export function applyPatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const base: Record<string, unknown> = isObject(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    base[k] = isObject(v) && isObject(base[k]) ? applyPatch(base[k], v) : v;
  }
  return base;
}

export type { Json };
