/**
 * The operator's day (issue 16) in a real browser against the real server and its simulated fleet
 * (A1-01, A1-mini-02, Marlin-03, Klipper-04) plus one real-protocol Bambu simulator added as a
 * "bambu" printer: why an item waits, cancelling one copy, retrying, history and CSV, editing a
 * printer and testing its connection, AMS trays and mapping, alerts, the same screens in 中文 with
 * no English left, and a viewer who sees no write controls. Screenshots at 1440 and 375 px land in
 * test-results/screenshots/operator-*.png.
 *
 * Run: `npx vitest run packages/web/test/browser/operator.test.ts` (see README.md here).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningServer } from '@rwc/server/main.ts';
import { BambuSimulator } from '@rwc/simulators/bambu/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuilt, launchChromium, screenshotDir, startTestServer } from './harness.ts';

const BAMBU = path.resolve(import.meta.dirname, '../../../../../shared/fixtures/bambu');
/** Sliced for an A1 mini (printer_model_id N1): only A1-mini-02 takes it. */
const MINI_FILE = path.join(BAMBU, 'fdm-monster.bambu.gcode.3mf');
/** Sliced for an X1 Carbon (BL-P001): no printer of the demo farm fits. */
const X1C_FILE = path.join(BAMBU, 'fdm-monster.bambu-2-plates.gcode.3mf');
/** The A1 mini file re-labelled for an A1 with two filaments (PLA #FFF144, PLA #0ACC38). */
const TWO_COLOUR_FILE = path.resolve(import.meta.dirname, 'fixtures/two-colour-A1.gcode.3mf');
const ADMIN = { username: 'admin', password: 'correct-horse-9' };
const VIEWER = { username: 'viewer1', password: 'viewer-pass-1' };
const LAB_ACCESS_CODE = '13572468';
/** Generous waits for what the page and the server do on their own (CI machines are busy). */
const SLOW = { timeout: 10_000, interval: 100 };

let server: RunningServer;
let dataDir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let lab: BambuSimulator;
let adminToken = '';
const files: Record<string, string> = {};
const consoleErrors: string[] = [];

async function api<T = any>(method: string, url: string, body?: unknown, token = adminToken): Promise<T> {
  const isForm = body instanceof FormData;
  const res = await fetch(`${server.url}/api/v1${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body && !isForm ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

async function login(user: { username: string; password: string }) {
  return api<{ accessToken: string; refreshToken: string; expiresIn: number }>('POST', '/auth/login', user, '');
}

async function upload(file: string): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(fs.readFileSync(file))]), path.basename(file));
  return (await api<{ id: string }>('POST', '/files', form)).id;
}

async function shot(name: string, p: Page = page): Promise<void> {
  await p.screenshot({ path: path.join(screenshotDir, `operator-${name}.png`), fullPage: true });
}

async function goto(hash: string, p: Page = page): Promise<void> {
  await p.evaluate((h) => {
    window.location.hash = h;
  }, hash);
}

const printerId = (name: string) => server.fleet.list().find((p) => p.summary.name === name)!.summary.id;
const simOf = (name: string) =>
  (server.fleet.list().find((p) => p.summary.name === name)!.driver as unknown as { simulator: BambuSimulator }).simulator;
const queueItem = (fileName: string) => server.queue.getQueue().items.find((i: { fileName: string }) => i.fileName === fileName) as any;

/** An Element Plus input by its test id (the id lands on the <input> or on its wrapper). */
const input = (scope: { locator: Page['locator'] }, id: string) => scope.locator(`input[data-testid="${id}"], [data-testid="${id}"] input`).first();

/** Picks an option of an open Element Plus select, then waits for its dropdown to close. */
async function pick(optionText: string) {
  await page.locator('.el-select-dropdown:visible .el-select-dropdown__item', { hasText: optionText }).first().click();
  await expect.poll(() => page.locator('.el-select-dropdown:visible').count(), SLOW).toBe(0);
}

/** The unread count on the menu's Alerts link (0 when the badge is not shown). */
async function badgeCount(p: Page = page): Promise<number> {
  const badge = p.locator('[data-testid="nav-alerts-unread"]');
  return (await badge.count()) ? Number((await badge.first().textContent())?.trim()) : 0;
}
const unreadOnServer = async (): Promise<number> => (await api('GET', '/alerts?acknowledged=false&limit=1')).unacknowledged;

/** Error popups stay until closed: close them so they cover nothing. */
async function closePopups(p: Page = page) {
  for (const btn of await p.locator('.rwc-alert-popup .el-notification__closeBtn').all()) await btn.click().catch(() => {});
  await expect.poll(() => p.locator('.rwc-alert-popup').count(), SLOW).toBe(0);
}

/** Opens the add-to-queue dialog of a library file. */
async function openAddDialog(fileName: string) {
  await goto('#/library');
  await page.click(`[data-testid="file-card"][data-file-name="${fileName}"] [data-testid="file-add-queue"]`);
  const dialog = page.locator('.el-dialog[data-testid="queue-dialog"]');
  await dialog.waitFor();
  return dialog;
}

/**
 * Words of the visible page that are English: visible text minus what is data (printer, file and
 * user names, G-code, model names, units), checked against a short list of allowed tokens.
 */
async function englishLeft(p: Page): Promise<string[]> {
  // Data, not words: names of printers, files (also ones the event log still mentions), plugins, users.
  const events: { params?: Record<string, unknown>; data?: Record<string, unknown> }[] = await api('GET', '/events?limit=500');
  const named = events.flatMap((e) =>
    ['fileName', 'name', 'pluginId', 'printerName'].flatMap((k) => [e.params?.[k], e.data?.[k]]).filter((v): v is string => typeof v === 'string'),
  );
  const names = [
    ...server.fleet.list().map((x) => x.summary.name),
    ...(await server.library.list({})).map((f: { name: string }) => f.name),
    ...named,
    ADMIN.username,
    VIEWER.username,
  ];
  // biome-ignore lint/performance/useDomNodeTextContent: only what is rendered counts (closed dialogs and hidden tabs are not on screen)
  const text: string = await p.evaluate(() => document.body.innerText);
  let rest = text;
  for (const n of names.sort((a, b) => b.length - a.length)) rest = rest.split(n).join(' ');
  const allowed = new Set([
    'RealWorldClaw', 'AMS', 'PLA', 'PETG', 'ABS', 'TPU', 'CSV', 'API', 'Bambu', 'Lab', 'Marlin', 'Klipper', 'Moonraker',
    'mini', 'Carbon', 'Combo', 'English', 'MQTT', 'FTPS', 'TLS', 'URL', 'TCP', 'USB', 'HMS', 'LAN', 'G-code', 'JPEG',
    'Wi-Fi', 'IP', 'ID', 'AI', 'mm', 'px',
    // the name of the built-in stand-in AI detector (a value, like a printer name)
    'standin',
  ]);
  const left: string[] = [];
  for (const m of rest.matchAll(/[A-Za-z][A-Za-z-]{2,}/g)) {
    const w = m[0];
    if (allowed.has(w) || /^(A1|X1|P1|H2|N1|N2S|BL-P\d+)$/i.test(w) || /^#?[0-9A-F]{6}$/i.test(w)) continue;
    // File extensions (".gcode.3mf") are names, not words.
    if (rest[m.index - 1] === '.') continue;
    // The word with what surrounds it, so a failure says where it is.
    left.push(`${w} ‹${rest.slice(Math.max(0, m.index - 25), m.index + w.length + 25).replace(/\s+/g, ' ')}›`);
  }
  return [...new Set(left)];
}

beforeAll(async () => {
  fs.mkdirSync(screenshotDir, { recursive: true });
  ensureWebBuilt();
  ({ server, dataDir } = await startTestServer());
  await api('POST', '/setup', ADMIN, '');
  adminToken = (await login(ADMIN)).accessToken;
  await api('POST', '/users', { ...VIEWER, role: 'viewer' });
  // Nothing starts until the walk says so; prints follow each other without the demo's swap pause.
  await api('POST', '/queue/pause');
  for (const p of server.fleet.list()) await api('PATCH', `/printers/${p.summary.id}`, { settings: { swapCooldownSeconds: 0 } });
  // A1-01 has an AMS lite with four spools and a PETG spool on the external holder.
  simOf('A1-01').setAms({
    units: [[{ type: 'PLA', color: '76D9F4', remain: 80 }, { type: 'PLA', color: 'FFF144', remain: 60 }, { type: 'PLA', color: 'FF80FF', remain: -1 }, { type: 'PLA', color: '0ACC38', remain: 30 }]],
    external: { type: 'PETG', color: 'FFFFFF', remain: -1 },
  });
  files.mini = await upload(MINI_FILE);
  files.x1c = await upload(X1C_FILE);
  files.two = await upload(TWO_COLOUR_FILE);
  // A printer on the real Bambu protocol at "localhost", added with the right access code.
  lab = new BambuSimulator({ host: '127.0.0.1', model: 'A1', accessCode: LAB_ACCESS_CODE, serial: '03919A3B0100254', timeScale: 30 });
  await lab.start();
  const c = lab.connectionInfo();
  await api('POST', '/printers', {
    name: 'Lab-A1',
    driver: 'bambu',
    model: 'A1',
    connection: { host: 'localhost', serial: c.serial, accessCode: c.accessCode, mqttPort: c.mqttPort, ftpsPort: c.ftpsPort, cameraPort: c.cameraPort, caCertPem: c.caCertPem },
  });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', acceptDownloads: true });
  page = await context.newPage();
  page.on('console', (msg) => {
    // The one expected error: the browser logs the 400 of the deliberately wrong current password.
    const wrongPassword = msg.location().url.endsWith('/api/v1/auth/password');
    if (msg.type() === 'error' && !wrongPassword) consoleErrors.push(`${msg.text()} ${msg.location().url}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await lab?.stop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("the operator's day in chromium", () => {
  it('opens the dashboard fetching each resource once (printers and queue come with the WebSocket snapshot)', async () => {
    const tokens = await login(ADMIN);
    await page.goto(server.url);
    await page.evaluate((t) => {
      localStorage.setItem('rwc.tokens', JSON.stringify(t));
      localStorage.setItem('rwc.locale', 'en');
    }, tokens);
    await page.goto(`${server.url}/#/printers`);
    // The tokens are read when the app starts: start it again, and count what this start fetches.
    const calls: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/v1/') && u.pathname !== '/api/v1/ws') calls.push(`${r.method()} ${u.pathname}`);
    });
    await page.reload();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="printer-card"]').length === n, server.fleet.list().length);
    await page.waitForSelector('[data-testid="ws-status"][data-connected="true"]');
    await page.waitForTimeout(1000);
    const counts = new Map<string, number>();
    for (const c of calls) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1), `fetched more than once: ${calls.join(', ')}`).toEqual([]);
    expect(calls).not.toContain('GET /api/v1/printers');
    expect(calls).not.toContain('GET /api/v1/queue');
    await shot('01-printers-1440');
  });

  it('warns before adding an item no printer fits; it shows why it waits and stays out of the ETA', async () => {
    const name = path.basename(X1C_FILE);
    const dialog = await openAddDialog(name);
    const warning = dialog.locator('[data-testid="queue-fit-warning"]');
    await warning.waitFor();
    expect(await warning.getAttribute('data-code')).toBe('no_printer_fits');
    expect((await dialog.locator('[data-testid="queue-fit-reason"]').textContent())?.trim().length).toBeGreaterThan(5);
    await shot('02-fit-warning');
    // "Print all plates": one item per plate, both waiting for a printer that fits.
    await dialog.locator('[data-testid="queue-all-plates"]').click();
    await dialog.waitFor({ state: 'hidden' });
    await goto('#/queue');
    const items = page.locator(`[data-testid="queue-item"][data-file-name="${name}"]`);
    await expect.poll(() => items.locator('[data-testid="queue-item-reason"][data-code="no_printer_fits"]').count(), SLOW).toBe(2);
    expect(await items.locator('[data-testid="queue-item-start"]').count()).toBe(0);
    const mine = server.queue.getQueue().items.filter((i: { fileName: string }) => i.fileName === name);
    expect(mine.map((i: { plate: number }) => i.plate).sort()).toEqual([1, 2]);
    expect(mine.map((i: { estimatedStartAt: string | null }) => i.estimatedStartAt)).toEqual([null, null]);
    expect(server.queue.getQueue().remainingSeconds).toBe(0);
    // The second plate is dropped again; the first one gets 3 copies in the edit dialog.
    await api('DELETE', `/queue/${mine.find((i: { plate: number }) => i.plate === 2).id}`);
    const item = items.first();
    await item.locator('[data-testid="queue-item-edit"]').click();
    const edit = page.locator('.el-dialog[data-testid="edit-item-dialog"]');
    await edit.waitFor();
    await input(edit, 'edit-copies').fill('3');
    await input(edit, 'edit-copies').press('Tab');
    await edit.locator('[data-testid="edit-submit"]').click();
    await edit.waitFor({ state: 'hidden' });
    await expect.poll(() => queueItem(name).copies, SLOW).toBe(3);
    expect(server.queue.getQueue().remainingSeconds).toBe(0);
    // Idle printers say why they get nothing.
    await page.waitForSelector('[data-testid="queue-idle-printer"]');
  });

  it('cancels one copy of a two-copy item and the item goes on', async () => {
    const name = path.basename(MINI_FILE);
    const dialog = await openAddDialog(name);
    const copies = input(dialog, 'queue-copies');
    await copies.fill('2');
    await copies.press('Tab');
    // The pre-check answered: this one fits (no warning).
    await dialog.locator('[data-testid="queue-form"][data-fit="fits"]').waitFor();
    expect(await dialog.locator('[data-testid="queue-fit-warning"]').count()).toBe(0);
    await dialog.locator('[data-testid="queue-submit"]').click();
    await dialog.waitFor({ state: 'hidden' });
    await goto('#/queue');
    await page.click('[data-testid="queue-running-switch"]');
    await page.waitForSelector('[data-testid="queue-running-switch"][data-running="true"]');
    const item = page.locator(`[data-testid="queue-item"][data-file-name="${name}"]`);
    await expect.poll(() => queueItem(name)?.activeJobs?.length ?? 0, { timeout: 30_000 }).toBe(1);
    await item.locator('[data-testid="queue-item-cancel"]').click();
    const cancel = page.locator('.el-dialog[data-testid="cancel-dialog"]');
    await cancel.waitFor();
    await cancel.locator('[data-testid="cancel-copy"]').first().click();
    await shot('03-cancel-copy');
    await cancel.locator('[data-testid="cancel-submit"]').click();
    await cancel.waitFor({ state: 'hidden' });
    await expect.poll(() => queueItem(name).copiesCancelled, { timeout: 15_000 }).toBe(1);
    expect(['waiting', 'printing']).toContain(queueItem(name).status);
    await item.locator('[data-testid="queue-item-cancelled"]').waitFor();
    // The other copy starts on the same printer.
    await expect.poll(() => queueItem(name)?.activeJobs?.length ?? 0, { timeout: 30_000 }).toBe(1);
  }, 90_000);

  it('retries a failed item in one click', async () => {
    const name = path.basename(MINI_FILE);
    const sim = simOf('A1-mini-02');
    await expect.poll(() => sim.gcodeState, { timeout: 30_000 }).toMatch(/PREPARE|RUNNING/);
    sim.setState({ gcode_state: 'FAILED' } as never);
    await expect.poll(() => queueItem(name).status, { timeout: 20_000 }).toBe('failed');
    // Hold the queue so the retried item is seen waiting.
    await api('POST', '/queue/pause');
    sim.setState({ gcode_state: 'IDLE' } as never);
    await goto('#/queue');
    const item = page.locator(`[data-testid="queue-item"][data-file-name="${name}"]`);
    await item.locator('[data-testid="queue-item-retry"]').click();
    await expect.poll(() => queueItem(name).status, { timeout: 10_000 }).toBe('waiting');
    await page.waitForSelector(`[data-testid="queue-waiting-list"] [data-testid="queue-item"][data-file-name="${name}"]`);
    await shot('04-queue-1440');
  }, 60_000);

  it('shows AMS trays and sends a two-colour file with the chosen ams_mapping', async () => {
    const a1 = printerId('A1-01');
    await goto(`#/printers/${a1}`);
    await page.waitForSelector('[data-testid="printer-detail-page"] [data-testid="ams-tray"]');
    expect(await page.locator('[data-testid="printer-detail-page"] [data-testid="ams-tray"]').count()).toBeGreaterThanOrEqual(4);
    await shot('05-printer-page');
    // The printer page loads the temperature history kept on the server.
    expect(await page.evaluate(() => performance.getEntriesByType('resource').some((e) => e.name.includes('/temperatures')))).toBe(true);
    // Remove the mini item so A1-01 is the only printer at work.
    await api('DELETE', `/queue/${queueItem(path.basename(MINI_FILE)).id}`);
    const name = path.basename(TWO_COLOUR_FILE);
    const dialog = await openAddDialog(name);
    await dialog.locator('[data-testid="ams-mode-manual"]').click();
    const selects = dialog.locator('[data-testid="ams-map-select"]');
    await expect.poll(() => selects.count(), SLOW).toBe(2);
    // Filament 1 (yellow) → AMS 1 slot 2, filament 2 (green) → AMS 1 slot 4.
    for (const [i, slot] of [
      [0, 'AMS 1 slot 2'],
      [1, 'AMS 1 slot 4'],
    ] as const) {
      await selects.nth(i).click();
      await pick(slot);
    }
    await shot('06-ams-mapping');
    await dialog.locator('[data-testid="queue-submit"]').click();
    await dialog.waitFor({ state: 'hidden' });
    expect(queueItem(name).amsMapping).toEqual([1, 3]);
    await api('POST', '/queue/start');
    const sim = simOf('A1-01');
    await expect
      .poll(() => sim.projectFiles()[0], { timeout: 30_000 })
      .toMatchObject({ use_ams: true, ams_mapping: [1, 3] });
    // Let it finish: a done job for the history.
    await expect.poll(() => sim.gcodeState, { timeout: 20_000 }).toMatch(/PREPARE|RUNNING/);
    sim.finishNow();
    await expect.poll(() => queueItem(name)?.status, { timeout: 20_000 }).toBe('done');
    await api('POST', '/queue/pause');
  }, 90_000);

  it('shows the history with totals and exports it as CSV', async () => {
    await closePopups();
    await goto('#/history');
    await expect.poll(() => page.locator('[data-testid="history-row"]').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const outcomes = await page.$$eval('[data-testid="history-row"]', (els) => els.map((e) => e.getAttribute('data-outcome')));
    expect(outcomes).toEqual(expect.arrayContaining(['done', 'failed', 'cancelled']));
    expect(await page.textContent('[data-testid="history-farm-totals"] [data-testid="stats-prints"]')).toMatch(/[3-9]\d* prints/);
    expect(await page.locator('[data-testid="history-printer-totals"]').count()).toBeGreaterThanOrEqual(2);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('[data-testid="history-csv"]')]);
    const csv = fs.readFileSync((await download.path())!, 'utf8');
    const lines = csv.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/outcome/);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    // Filter: only the failed job.
    await page.click('[data-testid="history-outcome"]');
    await pick('Failed');
    await expect.poll(() => page.$$eval('[data-testid="history-row"]', (els) => [...new Set(els.map((e) => e.getAttribute('data-outcome')))]), SLOW).toEqual(['failed']);
    await shot('07-history-1440');
  }, 60_000);

  it("edits a printer's address and the connection test names a wrong access code in words", async () => {
    await goto('#/settings');
    const row = page.locator(`[data-testid="settings-printer-row"][data-printer-id="${printerId('Lab-A1')}"]`);
    await row.locator('[data-testid="printer-edit"]').click();
    const dialog = page.locator('.el-dialog[data-testid="printer-edit-dialog"]');
    await dialog.waitFor();
    expect(await input(dialog, 'printer-form-host').inputValue()).toBe('localhost');
    await input(dialog, 'printer-form-host').fill('127.0.0.1');
    await input(dialog, 'printer-form-access-code').fill('00000000');
    await dialog.locator('[data-testid="printer-form-test"]').click();
    const result = dialog.locator('[data-testid="printer-test-result"]');
    await result.waitFor({ timeout: 20_000 });
    expect(await result.getAttribute('data-code')).toBe('wrong_access_code');
    expect(await dialog.locator('[data-testid="printer-test-text"]').textContent()).toMatch(/access code/i);
    await shot('08-test-connection');
    await input(dialog, 'printer-form-access-code').fill(LAB_ACCESS_CODE);
    await dialog.locator('[data-testid="printer-form-test"]').click();
    await dialog.locator('[data-testid="printer-test-result"][data-ok="true"]').waitFor({ timeout: 20_000 });
    await dialog.locator('[data-testid="printer-form-submit"]').click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(async () => (await api('GET', `/printers/${printerId('Lab-A1')}`)).connection.host, SLOW).toBe('127.0.0.1');
  }, 60_000);

  it('sends G-code to a Marlin printer from its console and shows the reply', async () => {
    await goto(`#/printers/${printerId('Marlin-03')}`);
    const controls = page.locator('[data-testid="printer-controls"]');
    await controls.waitFor();
    await input(controls, 'gcode-input').fill('M105');
    await controls.locator('[data-testid="gcode-send"]').click();
    await expect.poll(() => controls.locator('[data-testid="gcode-log"]').textContent(), { timeout: 15_000 }).toMatch(/ok/);
  });

  it('acknowledges an alert and the unread count drops', async () => {
    await closePopups();
    await expect.poll(unreadOnServer, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    const before = await unreadOnServer();
    await expect.poll(() => badgeCount(), { timeout: 10_000 }).toBe(before);
    await goto('#/alerts');
    await page.locator('[data-testid="alert-item"] [data-testid="alert-ack"]').first().click({ timeout: 10_000 });
    await expect.poll(unreadOnServer, { timeout: 10_000 }).toBe(before - 1);
    await expect.poll(() => badgeCount(), { timeout: 10_000 }).toBe(before - 1);
    await shot('09-alerts-1440');
  }, 60_000);

  it('fits a 375 px phone: no sideways scroll and every control at least 40 px', async () => {
    await closePopups();
    await page.setViewportSize({ width: 375, height: 812 });
    for (const [hash, name] of [
      ['#/queue', '10-phone-queue'],
      ['#/history', '11-phone-history'],
      [`#/printers/${printerId('A1-01')}`, '12-phone-printer'],
      ['#/alerts', '13-phone-alerts'],
    ] as const) {
      await goto(hash);
      await page.waitForTimeout(500);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), `${hash} scrolls sideways`).toBeLessThanOrEqual(0);
      const small = await page.$$eval('main button, main a[href], main [role="switch"], header button', (els) =>
        els
          .filter((e) => (e as HTMLElement).offsetParent !== null)
          .map((e) => ({ text: (e.textContent ?? e.getAttribute('aria-label') ?? '').trim().slice(0, 30), r: e.getBoundingClientRect() }))
          .filter(({ r }) => r.width > 0 && r.height > 0 && (r.height < 40 || r.width < 40))
          .map(({ text, r }) => `${text} ${Math.round(r.width)}×${Math.round(r.height)}`),
      );
      expect(small, `${hash}: controls smaller than 40 px`).toEqual([]);
      await shot(name);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('walks the same screens in 中文 with no English left', async () => {
    await closePopups();
    await page.click('[data-testid="lang-switch"]');
    await page.click('[data-testid="lang-option-zh-CN"]');
    await expect.poll(() => page.textContent('[data-testid="nav-queue"]'), SLOW).toContain('打印队列');
    const check = async (what: string) => {
      await page.waitForTimeout(400);
      expect(await englishLeft(page), `English left on ${what}`).toEqual([]);
    };
    await goto('#/queue');
    await page.waitForSelector('[data-testid="queue-item-reason"]');
    await check('queue');
    await shot('20-queue-zh');
    const dialog = await openAddDialog(path.basename(X1C_FILE));
    await dialog.locator('[data-testid="queue-fit-warning"]').waitFor();
    await check('the add dialog with its fit warning');
    await shot('21-fit-warning-zh');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await goto('#/history');
    await page.waitForSelector('[data-testid="history-row"]');
    await check('history');
    await shot('22-history-zh');
    await goto(`#/printers/${printerId('A1-01')}`);
    await page.waitForSelector('[data-testid="ams-tray"]');
    await check('the printer page');
    await shot('23-printer-zh');
    await goto('#/settings');
    await page.locator(`[data-testid="settings-printer-row"][data-printer-id="${printerId('Lab-A1')}"] [data-testid="printer-edit"]`).click();
    const edit = page.locator('.el-dialog[data-testid="printer-edit-dialog"]');
    await edit.waitFor();
    await input(edit, 'printer-form-access-code').fill('00000000');
    await edit.locator('[data-testid="printer-form-test"]').click();
    await edit.locator('[data-testid="printer-test-result"][data-code="wrong_access_code"]').waitFor({ timeout: 20_000 });
    expect(await edit.locator('[data-testid="printer-test-text"]').textContent()).toMatch(/访问码/);
    await check('the printer form with a failed test');
    await shot('24-test-connection-zh');
    await page.keyboard.press('Escape');
    await goto('#/alerts');
    await page.waitForSelector('[data-testid="alert-item"]');
    await check('alerts');
    await shot('25-alerts-zh');
    const before = await badgeCount();
    await page.locator('[data-testid="alert-ack"]').first().click({ timeout: 10_000 });
    await expect.poll(() => badgeCount(), { timeout: 10_000 }).toBe(before - 1);
    // The event log: every entry in words of the viewer's language.
    await page.click('.el-tabs__item:has-text("事件日志")');
    await page.waitForSelector('[data-testid="alert-row"]');
    await check('the event log');
    await shot('25b-event-log-zh');
    await goto('#/printers');
    await page.waitForSelector('[data-testid="printer-card"]');
    await check('printers');
    await page.setViewportSize({ width: 375, height: 812 });
    await goto('#/queue');
    await page.waitForTimeout(400);
    await shot('26-phone-queue-zh');
    await page.setViewportSize({ width: 1440, height: 900 });
  }, 90_000);

  it('shows a viewer no write controls anywhere', async () => {
    const viewer = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
    const v = await viewer.newPage();
    const tokens = await login(VIEWER);
    await v.goto(server.url);
    await v.evaluate((t) => {
      localStorage.setItem('rwc.tokens', JSON.stringify(t));
      localStorage.setItem('rwc.locale', 'en');
    }, tokens);
    const writeControls = [
      'queue-running-switch', 'queue-clear', 'queue-item-delete', 'queue-item-edit', 'queue-item-cancel', 'queue-item-retry',
      'queue-item-up', 'queue-item-handle', 'queue-retry-all', 'upload-zone', 'file-add-queue', 'file-delete', 'printer-pause',
      'printer-resume', 'printer-cancel', 'plate-cleared', 'printer-add', 'printer-edit', 'printer-detail-edit', 'settings-cooldown',
      'settings-plate-clear', 'alert-ack', 'alerts-ack-all', 'printer-controls', 'user-add', 'apikey-add', 'ai-check-now', 'ai-settings',
      'history-retry', 'robot-take-control', 'robot-upload', 'robot-start', 'robot-call', 'robot-estop', 'plugin-install',
    ];
    const pages = ['#/printers', '#/queue', '#/library', '#/history', '#/alerts', '#/settings', `#/printers/${printerId('A1-01')}`, '#/robot', '#/plugins', '#/ai'];
    for (const hash of pages) {
      await v.goto(`${server.url}/${hash}`);
      await v.reload();
      await v.waitForSelector('[data-testid="ws-status"][data-connected="true"]');
      await v.waitForTimeout(600);
      const found = await v.$$eval('[data-testid]', (els, ids) => els.map((e) => e.getAttribute('data-testid')!).filter((id) => ids.includes(id)), writeControls);
      expect(found, `write controls a viewer sees on ${hash}`).toEqual([]);
      // Switches change things, except a list filter (AI history: "alerts only").
      const switches = await v.$$eval('main .el-switch', (els) =>
        els.filter((e) => (e as HTMLElement).offsetParent !== null && !e.closest('[data-testid="ai-history-alerts-only"]') && !e.querySelector('[data-testid="ai-history-alerts-only"]')).length,
      );
      expect(switches, `switches on ${hash}`).toBe(0);
      if (hash === '#/queue') await shot('30-viewer-queue', v);
    }
    await shot('31-viewer-printer', v);
    await viewer.close();
  }, 60_000);

  it('manages accounts: an admin demotes and resets a user, changes their own password, and logout revokes the session', async () => {
    await closePopups();
    await goto('#/settings');
    await page.click('.el-tabs__item:has-text("用户")');
    const row = page.locator(`[data-testid="user-row"][data-username="${VIEWER.username}"]`);
    await row.waitFor();
    // Role: viewer → operator through the row's select.
    await row.locator('[data-testid="user-role"]').click();
    await pick('操作员');
    await expect.poll(async () => (await api<{ username: string; role: string }[]>('GET', '/users')).find((u) => u.username === VIEWER.username)?.role, SLOW).toBe('operator');
    // Reset their password: the new one works, the old one not.
    await row.locator('[data-testid="user-reset-password"]').click();
    const box = page.locator('.rwc-reset-password');
    await box.locator('input').fill('new-viewer-pass-2');
    await box.locator('.el-button--primary').click();
    await expect.poll(() => login({ username: VIEWER.username, password: 'new-viewer-pass-2' }).then(() => true, () => false), SLOW).toBe(true);
    // Own password: a wrong current one is refused in words; the right one works.
    await page.click('[data-testid="user-menu"]');
    await page.click('[data-testid="user-menu-password"]');
    const dialog = page.locator('.el-dialog[data-testid="password-dialog"]');
    await dialog.waitFor();
    await input(dialog, 'password-current').fill('not-my-password');
    await input(dialog, 'password-new').fill('brand-new-pass-3');
    await input(dialog, 'password-repeat').fill('brand-new-pass-3');
    await dialog.locator('[data-testid="password-submit"]').click();
    await expect.poll(() => page.locator('.el-message--error').last().textContent(), SLOW).toContain('当前密码错误');
    await input(dialog, 'password-current').fill(ADMIN.password);
    await dialog.locator('[data-testid="password-submit"]').click();
    await dialog.waitFor({ state: 'hidden' });
    await login({ username: ADMIN.username, password: 'brand-new-pass-3' });
    // Logout revokes the refresh token on the server.
    const refreshToken = await page.evaluate(() => JSON.parse(localStorage.getItem('rwc.tokens') ?? '{}').refreshToken as string);
    await page.click('[data-testid="user-menu"]');
    await page.click('[data-testid="logout"]');
    await page.waitForSelector('[data-testid="login-page"]');
    const res = await fetch(`${server.url}/api/v1/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) });
    expect(res.status).toBe(401);
  }, 60_000);

  it('logged no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
