import { createI18n } from 'vue-i18n';
import { en } from './en.ts';
import { zhCN } from './zh-CN.ts';
import { withParts } from './parts.ts';
import { type AppLocale, initialLocale } from '../util/locale.ts';

export type { AppLocale };

export const LOCALES: AppLocale[] = ['zh-CN', 'en'];
const STORAGE_KEY = 'rwc.locale';

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
  messages: withParts({ en, 'zh-CN': zhCN }) as { en: typeof en; 'zh-CN': typeof en },
});

export function currentLocale(): AppLocale {
  return i18n.global.locale.value as AppLocale;
}

export function setLocale(locale: AppLocale): void {
  i18n.global.locale.value = locale;
  localStorage.setItem(STORAGE_KEY, locale);
  document.documentElement.lang = locale;
}
