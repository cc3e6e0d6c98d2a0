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

/**
 * Every code the server can put on screen has a text in both languages, found where the UI looks
 * for it (util/server-text.ts TEXT_KINDS): the fixed waiting reasons and the connection codes.
 */
describe('server codes have texts in both languages', async () => {
  const { withParts } = await import('../../src/i18n/parts.ts');
  const { TEXT_KINDS } = await import('../../src/util/server-text.ts');
  const { connectionCodes } = await import('@rwc/server/printers/connection-issue.ts');
  const merged = withParts({ en, 'zh-CN': zhCN }) as Record<'en' | 'zh-CN', Record<string, unknown>>;
  const has = (table: Record<string, unknown>, key: string) => typeof key.split('.').reduce<any>((o, p) => o?.[p], table) === 'string';
  const missing = (kind: keyof typeof TEXT_KINDS, codes: readonly string[]) =>
    (['en', 'zh-CN'] as const).flatMap((lang) =>
      codes.filter((c) => !TEXT_KINDS[kind].some((ns) => has(merged[lang], `${ns}.${c}`))).map((c) => `${lang}: ${c}`),
    );

  it('the waiting reasons fixed in docs/api.md', () => {
    const fixed = ['queue_paused', 'no_printer_fits', 'printers_busy', 'printers_cooling_down', 'plate_clear_wanted', 'printers_unavailable'];
    expect(missing('wait', fixed)).toEqual([]);
  });
  it('every connection code (why a printer is not reachable)', () => {
    expect(missing('connection', connectionCodes)).toEqual([]);
  });
  it("every code of the server's message catalogue (GET /api/v1/messages), where the UI looks for its kind", async () => {
    const { messageCatalogue } = await import('@rwc/server/messages/catalogue.ts');
    const kinds = { connection: 'connection', alert: 'alert', event: 'event', stage: 'stage', gate: 'gate', error: 'error', wait: 'wait', idle: 'idle' } as const;
    const all = messageCatalogue();
    expect(all.length).toBeGreaterThan(50);
    for (const [kind, uiKind] of Object.entries(kinds)) {
      expect(missing(uiKind, all.filter((e) => e.kind === kind).map((e) => e.code)), kind).toEqual([]);
    }
  });
});
