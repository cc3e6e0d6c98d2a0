/**
 * `npm run bench -- <name> [args]`: runs bench/<name>.ts, which prints its own figures
 * (fleet, parse, dispatch, serial, vision: every bench/*.ts not starting with `_`).
 * Benchmarks talk only to loopback addresses and stop by themselves.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''));

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [args]`);
  process.exit(name ? 1 : 0);
}
const mod = (await import(path.join(here, `${name}.ts`))) as { run(args: string[]): Promise<void> };
await mod.run(args);
process.exit(0);
