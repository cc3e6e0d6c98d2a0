import { createI18n } from 'vue-i18n';
import { en } from './en.ts';
import { zhCN } from './zh-CN.ts';

export type AppLocale = 'zh-CN' | 'en';
export const LOCALES: AppLocale[] = ['zh-CN', 'en'];
const STORAGE_KEY = 'rwc.locale';

/** The remembered choice, else the browser's language (any Chinese → zh-CN), else English. */
export function initialLocale(stored: string | null, browserLanguages: readonly string[]): AppLocale {
  if (stored === 'zh-CN' || stored === 'en') return stored;
  for (const lang of browserLanguages) {
    const lower = lang.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

function readStored(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(readStored(), navigator.languages?.length ? navigator.languages : [navigator.language]),
  fallbackLocale: 'en',
  messages: { en, 'zh-CN': zhCN },
});

export function currentLocale(): AppLocale {
  return i18n.global.locale.value as AppLocale;
}

export function setLocale(locale: AppLocale): void {
  i18n.global.locale.value = locale;
  localStorage.setItem(STORAGE_KEY, locale);
  document.documentElement.lang = locale;
}
