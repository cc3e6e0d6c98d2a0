/**
 * Merges the per-part message files in ./parts into the base tables. A part file default-exports
 * `{ en, 'zh-CN' }`; nested objects are merged key by key, so two parts may add to one namespace.
 */
type Messages = Record<string, unknown>;

function merge(into: Messages, from: Messages): Messages {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)) {
      merge(cur as Messages, v as Messages);
    } else {
      into[k] = v;
    }
  }
  return into;
}

const modules = import.meta.glob<{ default: { en: Messages; 'zh-CN': Messages } }>('./parts/*.ts', { eager: true });

/** The base tables with every part's messages merged in. */
export function withParts(base: { en: Messages; 'zh-CN': Messages }): { en: Messages; 'zh-CN': Messages } {
  const out = { en: structuredClone(base.en), 'zh-CN': structuredClone(base['zh-CN']) };
  for (const mod of Object.values(modules)) {
    merge(out.en, mod.default.en);
    merge(out['zh-CN'], mod.default['zh-CN']);
  }
  return out;
}
