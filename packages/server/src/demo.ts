import type { Infra } from './app-context.ts';
import { seedDemoFiles } from './demo-files.ts';
import type { FileLibrary } from './library/file-library.ts';
import type { Fleet, NewPrinter } from './printers/fleet.ts';

/** Demo printers run 30× faster than real ones, so their plate-swap pause is shorter too. */
const demoSettings = { swapCooldownSeconds: 30 };

/** The demo fleet a newcomer sees on first start: simulated printers speaking their real protocols. */
export const demoPrinters: NewPrinter[] = [
  { name: 'A1-01', driver: 'simulated-bambu', model: 'A1', connection: { model: 'A1', timeScale: 30 }, settings: demoSettings },
  { name: 'A1-mini-02', driver: 'simulated-bambu', model: 'A1 mini', connection: { model: 'A1 mini', timeScale: 30 }, settings: demoSettings },
  { name: 'Marlin-03', driver: 'simulated-marlin', model: 'Marlin', connection: { timeScale: 30 }, settings: demoSettings },
  { name: 'Klipper-04', driver: 'simulated-moonraker', model: 'Klipper', connection: { timeScale: 30 }, settings: demoSettings },
];

/**
 * Adds the demo fleet once: when RWC_DEMO=1, or when it is unset and the data dir is fresh.
 * Returns whether printers were added.
 */
export async function seedDemoFleet(opts: {
  infra: Infra;
  fleet: Fleet;
  library: FileLibrary;
  demo: boolean | null;
}): Promise<boolean> {
  const db = opts.infra.storage.db;
  if (opts.demo === false) return false;
  const seeded = await db.selectFrom('kv').select('value').where('key', '=', 'demo_seeded').executeTakeFirst();
  if (seeded) return false;
  if (opts.demo === null) {
    const anyPrinter = await db.selectFrom('printers').select('id').limit(1).executeTakeFirst();
    const anyUser = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (anyPrinter || anyUser) return false;
  }
  // Claimed with one insert: processes sharing a PostgreSQL database (scale-out) may start at the
  // same moment, and only the one whose insert lands adds the demo fleet.
  const claim = await db
    .insertInto('kv')
    .values({ key: 'demo_seeded', value: new Date(opts.infra.clock.now()).toISOString() })
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst();
  if (Number(claim.numInsertedOrUpdatedRows ?? 0) !== 1) return false;
  let added = 0;
  for (const p of demoPrinters) {
    if (!opts.infra.registry.get('printer-driver', p.driver)) {
      opts.infra.logger.warn({ driver: p.driver }, 'demo printer skipped: driver not available');
      continue;
    }
    await opts.fleet.add(p);
    added++;
  }
  try {
    await seedDemoFiles(opts.library);
  } catch (err) {
    opts.infra.logger.warn({ err }, 'demo files could not be added');
  }
  return added > 0;
}

/**
 * AI monitoring on the demo printers that have a camera (the simulated Bambu and Klipper ones):
 * watched with the built-in stand-in detector, no model needed. Demo printers run 30× faster, so
 * they are checked every 2 s and the warm-up is 5 frames instead of 30. "Make it fail" on a
 * simulated printer's AI panel turns its print into spaghetti: a warning, then an AI pause.
 */
export async function seedDemoVision(
  vision: { monitor: { updateSettings(id: string, patch: Record<string, unknown>): Promise<unknown> } },
  fleet: Fleet,
): Promise<void> {
  for (const p of fleet.list()) {
    if (!/^simulated-(bambu|moonraker)$/.test(p.summary.driver)) continue;
    await vision.monitor.updateSettings(p.summary.id, { enabled: true, detector: 'standin', intervalSeconds: 2, rule: { warmupFrames: 5 } });
  }
}
