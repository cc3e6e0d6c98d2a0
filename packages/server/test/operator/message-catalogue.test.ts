/**
 * Both languages for every server text (issue 16): every code the server source can produce is in
 * the catalogue, and every catalogued code has a text in English and in Chinese in the web's part
 * files, with the same placeholders in both.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { messageCatalogue } from '../../src/messages/catalogue.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const srcRoot = path.resolve(here, '../../src');
const partsDir = path.resolve(here, '../../../web/src/i18n/parts');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Codes written as literals where the server makes texts: `code: '…'`, errors, refusals, connection issues. */
function codesInSource(): Map<string, string> {
  const found = new Map<string, string>();
  const patterns = [
    /\bcode: '([a-z][a-z0-9_]*)'/g,
    /new (?!ValidationError)[A-Za-z]*Error\(\s*'([a-z][a-z0-9_]*)'/g,
    /new DomainError\(\s*'[a-z_]+',\s*'([a-z][a-z0-9_]*)'/g,
    /\b(?:conflict|notFound|badRequest|tooLarge|forbidden|unauthorized|unavailable)\([^;]*?,\s*'([a-z][a-z0-9_]*)'\s*[,)]/g,
    /\bissue\(\s*'([a-z][a-z0-9_]*)'/g,
  ];
  for (const file of sourceFiles(srcRoot)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) if (!found.has(m[1]!)) found.set(m[1]!, path.relative(srcRoot, file));
  }
  return found;
}

type Table = Record<string, unknown>;
function merge(into: Table, from: Table): Table {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k];
    if (v && typeof v === 'object' && cur && typeof cur === 'object') merge(cur as Table, v as Table);
    else into[k] = v;
  }
  return into;
}

async function webTables(): Promise<{ en: Table; zh: Table }> {
  const en: Table = {};
  const zh: Table = {};
  for (const f of fs.readdirSync(partsDir).filter((n) => n.endsWith('.ts'))) {
    const mod = (await import(path.join(partsDir, f))).default as { en: Table; 'zh-CN': Table };
    merge(en, structuredClone(mod.en));
    merge(zh, structuredClone(mod['zh-CN']));
  }
  return { en, zh };
}

const lookup = (t: Table, key: string): unknown => key.split('.').reduce<unknown>((o, k) => (o as Table | undefined)?.[k], t);
const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('server message catalogue', () => {
  it('lists every code the server source produces', () => {
    const known = new Set(messageCatalogue().map((e) => e.code));
    const missing = [...codesInSource()].filter(([code]) => !known.has(code)).map(([code, file]) => `${code} (${file})`);
    expect(missing, 'codes the server produces that are not in messages/catalogue.ts').toEqual([]);
  });

  it('has a text for every code in English and Chinese, with the same placeholders', async () => {
    const { en, zh } = await webTables();
    const problems: string[] = [];
    for (const { code, key } of messageCatalogue()) {
      const a = lookup(en, key);
      const b = lookup(zh, key);
      if (typeof a !== 'string' || !a.trim()) problems.push(`${code}: no English text at ${key}`);
      if (typeof b !== 'string' || !b.trim()) problems.push(`${code}: no Chinese text at ${key}`);
      if (typeof a === 'string' && typeof b === 'string' && placeholders(a).join() !== placeholders(b).join()) {
        problems.push(`${code}: placeholders differ (${placeholders(a)} / ${placeholders(b)})`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('lists each code once, across connection, alert, event, stage and error texts', () => {
    const codes = messageCatalogue().map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).toEqual(expect.arrayContaining(['printer_unreachable', 'wrong_access_code', 'bambu_stage_1', 'job_started']));
  });
});
