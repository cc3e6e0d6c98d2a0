import { describe, expect, it } from 'vitest';
import { en } from '../../src/i18n/en.ts';
import { zhCN } from '../../src/i18n/zh-CN.ts';

/** Every leaf key path of a message table ("robot.title", …). */
function keys(obj: unknown, prefix = ''): string[] {
  if (!obj || typeof obj !== 'object') return [prefix];
  return Object.entries(obj as Record<string, unknown>).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k));
}

const parts = import.meta.glob<{ default: { en: object; 'zh-CN': object } }>('../../src/i18n/parts/*.ts', { eager: true });

describe('UI texts exist in both languages', () => {
  it('the base tables have the same keys', () => {
    expect(keys(zhCN).sort()).toEqual(keys(en).sort());
  });
  for (const [file, mod] of Object.entries(parts)) {
    it(`${file.split('/').pop()} has the same keys in English and Chinese, none empty`, () => {
      const a = keys(mod.default.en).sort();
      const b = keys(mod.default['zh-CN']).sort();
      expect(b).toEqual(a);
      for (const table of [mod.default.en, mod.default['zh-CN']]) {
        for (const k of keys(table)) {
          const v = k.split('.').reduce<any>((o, p) => o?.[p], table);
          expect(typeof v === 'string' && v.trim().length > 0, `${k} is empty`).toBe(true);
        }
      }
    });
  }
});
