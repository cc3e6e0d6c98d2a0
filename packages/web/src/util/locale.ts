export type AppLocale = 'zh-CN' | 'en';

/** The remembered choice, else the browser's first language we have (any Chinese → zh-CN), else English. */
export function initialLocale(stored: string | null, browserLanguages: readonly string[]): AppLocale {
  if (stored === 'zh-CN' || stored === 'en') return stored;
  for (const lang of browserLanguages) {
    const lower = lang.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}
