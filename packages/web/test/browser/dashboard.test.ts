/**
 * End-to-end flow of the web dashboard in a real browser against the real server:
 * first-run setup → login → upload → queue 2 copies → reorder by drag → start → a simulated printer
 * prints → the ETA shows → language switch → a printer error pops up → phone-sized layout.
 *
 * Run: `npx vitest run packages/web/test/browser` from the repository root (see README.md here).
 * Needs Debian's chromium at /usr/bin/chromium (`apt-get install -y chromium`) or RWC_CHROMIUM.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningServer } from '@rwc/server/main.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuilt, launchChromium, screenshotDir, startTestServer } from './harness.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../../../../../shared/fixtures/bambu/fdm-monster.bambu.gcode.3mf');
const FIXTURE_NAME = path.basename(FIXTURE);
const USER = 'admin';
const PASSWORD = 'correct-horse-9';

let server: RunningServer;
let dataDir: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const consoleErrors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

async function goto(hash: string): Promise<void> {
  await page.evaluate((h) => {
    window.location.hash = h;
  }, hash);
}

/** Waiting queue item ids in the order the page shows them. */
function shownWaitingOrder(): Promise<string[]> {
  return page.$$eval('[data-testid="queue-waiting-list"] [data-testid="queue-item"]', (els) =>
    els.map((e) => e.getAttribute('data-item-id') ?? ''),
  );
}

beforeAll(async () => {
  fs.mkdirSync(screenshotDir, { recursive: true });
  ensureWebBuilt();
  ({ server, dataDir } = await startTestServer());
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
  page = await context.newPage();
  page.on('console', (msg) => {
    // The one expected error: the browser logs the 401 of the deliberately wrong login.
    const wrongLogin = msg.location().url.endsWith('/api/v1/auth/login') && msg.text().includes('401');
    if (msg.type() === 'error' && !wrongLogin) consoleErrors.push(`${msg.text()} ${msg.location().url}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('web dashboard in chromium', () => {
  it('sends a fresh server to first-run setup and creates the admin', async () => {
    await page.goto(server.url);
    await page.waitForSelector('[data-testid="setup-page"]');
    expect(page.url()).toContain('#/setup');
    await page.fill('[data-testid="setup-username"]', USER);
    await page.fill('[data-testid="setup-password"]', PASSWORD);
    await page.fill('[data-testid="setup-password2"]', PASSWORD);
    await shot('01-setup');
    await page.click('[data-testid="setup-submit"]');
    await page.waitForSelector('[data-testid="login-page"]');
    expect(await page.inputValue('[data-testid="login-username"]')).toBe(USER);
  });

  it('logs in and shows a card per simulated printer', async () => {
    await page.fill('[data-testid="login-password"]', 'wrong-password');
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="login-error"]');
    await page.fill('[data-testid="login-password"]', PASSWORD);
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="printers-page"]');
    const expected = server.fleet.list().length;
    expect(expected).toBeGreaterThan(0);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="printer-card"]').length === n, expected);
    await page.waitForSelector('[data-testid="ws-status"][data-connected="true"]');
    // Live temperatures arrive over the WebSocket.
    expect(await page.textContent('[data-testid="printer-card"] [data-testid="printer-nozzle"]')).toMatch(/\d+°/);
    await shot('02-printers');
  });

  it('uploads a sliced file and shows its card with plates, time and colours', async () => {
    await page.click('[data-testid="nav-library"]');
    await page.waitForSelector('[data-testid="upload-zone"]');
    await page.setInputFiles('[data-testid="upload-input"]', FIXTURE);
    const card = page.locator(`[data-testid="file-card"][data-file-name="${FIXTURE_NAME}"]`);
    await card.waitFor();
    expect(Number(await card.locator('[data-testid="file-plates"]').textContent())).toBeGreaterThanOrEqual(1);
    expect(await card.locator('[data-testid="file-time"]').textContent()).toMatch(/\d+[hm]/);
    expect(await card.locator('[data-testid="file-color"]').count()).toBeGreaterThan(0);
    const files = await server.library.list();
    expect(files.map((f: { name: string }) => f.name)).toContain(FIXTURE_NAME);
    await shot('03-library');
  });

  it('uploads a dropped file with a progress bar', async () => {
    const twoPlates = path.join(path.dirname(FIXTURE), 'fdm-monster.bambu-2-plates.gcode.3mf');
    const bytes = fs.readFileSync(twoPlates).toString('base64');
    // Slow the upload down (~1.5 s) so the progress bar is observable.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 160_000 });
    await page.evaluate(
      ({ b64, name }) => {
        const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([raw], name));
        const zone = document.querySelector('[data-testid="upload-zone"]')!;
        zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
      },
      { b64: bytes, name: path.basename(twoPlates) },
    );
    const progress = page.locator('[data-testid="upload-progress"]');
    await progress.waitFor();
    // XMLHttpRequest upload progress moves the bar before the upload ends.
    await page.waitForFunction(() => {
      const bar = document.querySelector('[data-testid="upload-progress"] [role="progressbar"]');
      const value = Number(bar?.getAttribute('aria-valuenow') ?? 0);
      return value > 0 && value < 100;
    });
    await shot('03b-upload-progress');
    await progress.waitFor({ state: 'detached', timeout: 15_000 });
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    const card = page.locator(`[data-testid="file-card"][data-file-name="${path.basename(twoPlates)}"]`);
    await card.waitFor();
    expect(await card.locator('[data-testid="file-plates"]').textContent()).toBe('2');
  });

  it('queues 2 copies with the dialog defaults, then a second item, while the queue is paused', async () => {
    // Pause first so nothing is dispatched before the reorder.
    await page.click('[data-testid="nav-queue"]');
    const toggle = page.locator('[data-testid="queue-running-switch"]');
    await toggle.waitFor();
    if ((await toggle.getAttribute('data-running')) === 'true') {
      await toggle.click();
      await page.waitForSelector('[data-testid="queue-running-switch"][data-running="false"]');
    }
    expect(server.queue.getQueue().running).toBe(false);

    for (const copies of [2, 1]) {
      await page.click('[data-testid="nav-library"]');
      await page.click(`[data-testid="file-card"][data-file-name="${FIXTURE_NAME}"] [data-testid="file-add-queue"]`);
      const dialog = page.locator('.el-dialog[data-testid="queue-dialog"]');
      await dialog.waitFor();
      // Defaults from the brief: levelling on, flow calibration on, timelapse off.
      const isOn = (id: string) => dialog.locator(`[data-testid="${id}"] [role="switch"], [role="switch"][data-testid="${id}"]`).first().getAttribute('aria-checked');
      expect(await isOn('queue-bedleveling')).toBe('true');
      expect(await isOn('queue-flowcal')).toBe('true');
      expect(await isOn('queue-timelapse')).toBe('false');
      const copiesInput = dialog.locator('[data-testid="queue-copies"] input, input[data-testid="queue-copies"]').first();
      await copiesInput.fill(String(copies));
      await copiesInput.press('Tab');
      if (copies === 2) await shot('04-add-to-queue');
      await dialog.locator('[data-testid="queue-submit"]').click();
      await dialog.waitFor({ state: 'hidden' });
    }
    const items = server.queue.getQueue().items;
    expect(items.map((i: { copies: number }) => i.copies)).toEqual([2, 1]);
    expect(items[0].overrides).toMatchObject({ bedLeveling: true, flowCalibration: true, timelapse: false });
  });

  it('reorders the two waiting items by dragging the handle', async () => {
    await page.click('[data-testid="nav-queue"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="queue-waiting-list"] [data-testid="queue-item"]').length === 2);
    const before = await shownWaitingOrder();
    const handles = page.locator('[data-testid="queue-waiting-list"] [data-testid="queue-item-handle"]');
    const from = await handles.nth(1).boundingBox();
    const to = await handles.nth(0).boundingBox();
    if (!from || !to) throw new Error('drag handles are not visible');
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) {
      await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2 - ((from.y - to.y + 20) * i) / 12);
      await page.waitForTimeout(16);
    }
    await page.mouse.up();
    const expected = [before[1], before[0]];
    await expect.poll(() => server.queue.getQueue().items.filter((i: { status: string }) => i.status === 'waiting').map((i: { id: string }) => i.id)).toEqual(expected);
    await expect.poll(shownWaitingOrder).toEqual(expected);
    await shot('05-queue-reordered');
  });

  it('starts the queue: a simulated printer prints and the finish time shows', async () => {
    await page.click('[data-testid="queue-running-switch"]');
    await page.waitForSelector('[data-testid="queue-running-switch"][data-running="true"]');
    await page.waitForSelector('[data-testid="queue-item"][data-status="printing"]', { timeout: 30_000 });
    await expect.poll(() => page.textContent('[data-testid="queue-finish"]'), { timeout: 10_000 }).toMatch(/finishes (today|tomorrow|\d+\/\d+) \d\d:\d\d/);
    expect(await page.textContent('[data-testid="queue-remaining"]')).toMatch(/\d+[dhm]/);
    await shot('06-queue-running');
    await page.click('[data-testid="nav-printers"]');
    await page.waitForSelector('[data-testid="printer-card"][data-status="printing"], [data-testid="printer-card"][data-status="preparing"]', {
      timeout: 30_000,
    });
    await page.waitForSelector('[data-testid="printer-card"] [data-testid="printer-progress"]');
    await shot('07-printers-printing');
  }, 60_000);

  it('counts the plate-swap cooldown down and asks to confirm the plate is clear', async () => {
    const printingId = server.queue.getQueue().items.find((i: { status: string }) => i.status === 'printing')?.currentPrinterId;
    if (!printingId) throw new Error('no printer is printing a queue item');
    const printer = server.fleet.get(printingId)!;
    // Turn on "confirm plate clear" for that printer through the settings page.
    await page.click('[data-testid="nav-settings"]');
    const row = page.locator(`[data-testid="settings-printer-row"][data-printer-id="${printingId}"]`);
    await row.locator('[data-testid="settings-plate-clear"]').click();
    await expect.poll(() => server.fleet.get(printingId)?.summary.settings.requirePlateClear).toBe(true);
    await shot('07b-settings');

    (printer.driver as unknown as { simulator: { finishNow(): void } }).simulator.finishNow();
    await page.click('[data-testid="nav-printers"]');
    const card = page.locator(`[data-testid="printer-card"][data-printer-id="${printingId}"]`);
    const cooldown = card.locator('[data-testid="printer-gate"][data-gate="cooldown"]');
    await cooldown.waitFor({ timeout: 15_000 });
    const first = await cooldown.textContent();
    expect(first).toMatch(/Cooling down \d+:\d\d/);
    // It counts down live in the browser.
    await expect.poll(() => cooldown.textContent(), { timeout: 5_000 }).not.toBe(first);
    const plate = card.locator('[data-testid="printer-gate"][data-gate="plate"]');
    await plate.waitFor();
    await shot('07c-cooldown-plate');
    await plate.locator('[data-testid="plate-cleared"]').click();
    await page.click('.el-message-box__btns .el-button--primary');
    await plate.waitFor({ state: 'detached', timeout: 10_000 });
  }, 45_000);

  it('switches the language to Chinese and remembers it', async () => {
    await page.click('[data-testid="nav-queue"]');
    await page.click('[data-testid="lang-switch"]');
    await page.click('[data-testid="lang-option-zh-CN"]');
    await expect.poll(() => page.textContent('[data-testid="nav-queue"]')).toContain('打印队列');
    await expect.poll(() => page.textContent('[data-testid="queue-finish"]')).toMatch(/预计(今日|明日|\s*\d+月\d+日)\s*\d\d:\d\d\s*完成/);
    expect(await page.evaluate(() => localStorage.getItem('rwc.locale'))).toBe('zh-CN');
    await page.reload();
    await page.waitForSelector('[data-testid="queue-page"]');
    expect(await page.textContent('[data-testid="nav-queue"]')).toContain('打印队列');
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    await shot('08-queue-zh');
  });

  it('pops up an alert when a simulated printer reports an error', async () => {
    await page.click('[data-testid="nav-printers"]');
    const busy = new Set(server.queue.getQueue().items.map((i: { currentPrinterId: string | null }) => i.currentPrinterId));
    const target = server.fleet
      .list()
      .find((p: { summary: { id: string; driver: string } }) => p.summary.driver === 'simulated-bambu' && !busy.has(p.summary.id));
    if (!target) throw new Error('no simulated Bambu printer in the demo fleet');
    const driver = target.driver as unknown as { simulator: { injectError(e: { printError?: number }): void } };
    // 0x0700_8011: an AMS fault in the pause class (low word >= 0x8000), so the printer reports an error.
    driver.simulator.injectError({ printError: 0x07008011 });
    const popup = page.locator('.rwc-alert-popup');
    await popup.first().waitFor({ timeout: 15_000 });
    expect(await popup.first().textContent()).toContain(target.summary.name);
    await page.waitForSelector(`[data-testid="printer-card"][data-printer-id="${target.summary.id}"] [data-testid="printer-error"]`);
    await shot('09-error-popup');
    // The popup stays until closed (errors need attention); its close button works. The server may
    // raise more than one alert for the fault (printer error, queue paused): close each.
    await expect
      .poll(
        async () => {
          const close = page.locator('.rwc-alert-popup .el-notification__closeBtn');
          if (await close.count()) await close.first().click({ timeout: 2000 }).catch(() => {});
          return page.locator('.rwc-alert-popup').count();
        },
        { timeout: 15_000, interval: 500 },
      )
      .toBe(0);
    // The alerts page lists it (alerts to acknowledge; the event log is the second tab).
    await page.click('[data-testid="nav-alerts"]');
    await page.waitForSelector('[data-testid="alert-item"]');
  });

  it('shows a printer page with a live temperature chart and the camera snapshot', async () => {
    const target = server.fleet.list().find((p: { summary: { driver: string } }) => p.summary.driver === 'simulated-bambu')!;
    await page.click('[data-testid="nav-printers"]');
    await page.click(`[data-testid="printer-card"][data-printer-id="${target.summary.id}"] [data-testid="printer-name"]`);
    await page.waitForSelector('[data-testid="printer-detail-page"]');
    await page.waitForSelector('[data-testid="temp-chart"] canvas');
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid="printer-snapshot"]');
      return !!img && img.complete && img.naturalWidth > 0;
    }, undefined, { timeout: 15_000 });
    await shot('10-printer-detail');
  });

  it('adds a printer through a validating form, creates a user and shows a new API key once', async () => {
    // Back to English (the language switch works both ways).
    await page.click('[data-testid="lang-switch"]');
    await page.click('[data-testid="lang-option-en"]');
    await expect.poll(() => page.textContent('[data-testid="nav-settings"]')).toContain('Settings');
    await page.click('[data-testid="nav-settings"]');
    await page.click('[data-testid="printer-add"]');
    const dialog = page.locator('.el-dialog[data-testid="printer-dialog"]');
    await dialog.waitFor();
    // Bambu is the default kind: an empty form names what is missing.
    await dialog.locator('[data-testid="printer-form-submit"]').click();
    await expect.poll(() => dialog.locator('.el-form-item__error').count()).toBeGreaterThanOrEqual(4);
    await dialog.locator('[data-testid="printer-form-access-code"]').fill('123');
    await dialog.locator('[data-testid="printer-form-access-code"]').blur();
    await expect.poll(() => dialog.locator('.el-form-item__error').allTextContents()).toContain('Access code: 8 characters');
    await shot('11-add-printer-validation');
    // Switch to a simulated Bambu, which needs only a name.
    await dialog.locator('[data-testid="printer-form-driver"]').click();
    await page.click('.el-select-dropdown__item:has-text("Simulated Bambu")');
    await dialog.locator('[data-testid="printer-form-name"]').fill('Sim-05');
    await dialog.locator('[data-testid="printer-form-model"]').fill('A1 mini');
    const before = server.fleet.list().length;
    await dialog.locator('[data-testid="printer-form-submit"]').click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => server.fleet.list().length).toBe(before + 1);
    await page.waitForSelector('[data-testid="settings-printer-row"]:has-text("Sim-05")');

    await page.click('.el-tabs__item:has-text("Users")');
    await page.click('[data-testid="user-add"]');
    await page.fill('[data-testid="user-form-username"]', 'operator1');
    await page.fill('[data-testid="user-form-password"]', 'operator-pass-1');
    await page.click('[data-testid="user-form-submit"]');
    await page.waitForSelector('[data-testid="user-row"]:has-text("operator1")');

    await page.click('.el-tabs__item:has-text("API keys")');
    await page.click('[data-testid="apikey-add"]');
    await page.fill('[data-testid="apikey-form-name"]', 'slicer');
    await page.click('[data-testid="apikey-form-submit"]');
    const shown = page.locator('.el-dialog[data-testid="apikey-shown"]');
    await shown.waitFor();
    const key = await shown.locator('[data-testid="apikey-value"]').inputValue();
    expect(key.length).toBeGreaterThan(16);
    // The key works against the API, and the list never shows it again.
    const res = await fetch(`${server.url}/api/v1/printers`, { headers: { 'x-api-key': key } });
    expect(res.status).toBe(200);
    await shot('12-api-key-once');
    await shown.locator('[data-testid="apikey-shown-close"]').click();
    await page.waitForSelector('[data-testid="apikey-row"]:has-text("slicer")');
    expect(await page.locator('[data-testid="settings-apikeys"]').textContent()).not.toContain(key);
  });

  it('fits a 375 px wide phone screen without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    for (const [hash, name] of [
      ['#/printers', '20-phone-printers'],
      ['#/queue', '21-phone-queue'],
      ['#/library', '22-phone-library'],
    ] as const) {
      await goto(hash);
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${hash} overflows horizontally`).toBeLessThanOrEqual(0);
      await shot(name);
    }
    // The side navigation becomes a drawer behind a labelled menu button.
    await page.click('[data-testid="nav-menu-toggle"]');
    await page.click('[data-testid="drawer-nav-settings"]');
    await page.waitForSelector('[data-testid="settings-page"]');
    await page.waitForSelector('.el-drawer', { state: 'hidden' });
    await shot('23-phone-settings');
  });

  it('logged no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });

  it('rotates an expired access token with the refresh token, and logs out', async () => {
    // A broken access token: the first API call gets 401, the refresh token gets new tokens, the page loads.
    await page.evaluate(() => {
      const t = JSON.parse(localStorage.getItem('rwc.tokens') ?? '{}');
      localStorage.setItem('rwc.tokens', JSON.stringify({ ...t, accessToken: 'expired.access.token' }));
      window.location.hash = '#/printers';
    });
    await page.reload();
    await page.waitForSelector('[data-testid="printer-card"]');
    await page.waitForSelector('[data-testid="ws-status"][data-connected="true"]');
    const rotated = await page.evaluate(() => JSON.parse(localStorage.getItem('rwc.tokens') ?? '{}').accessToken);
    expect(rotated).not.toBe('expired.access.token');
    // Logout lives in the account menu (with "change password").
    await page.click('[data-testid="user-menu"]');
    await page.click('[data-testid="logout"]');
    await page.waitForSelector('[data-testid="login-page"]');
    expect(await page.evaluate(() => localStorage.getItem('rwc.tokens'))).toBeNull();
  });

  it('sends the user back to login when the refresh token is refused too', async () => {
    await page.evaluate(() =>
      localStorage.setItem('rwc.tokens', JSON.stringify({ accessToken: 'bad', refreshToken: 'bad', expiresIn: 900 })),
    );
    await page.evaluate(() => {
      window.location.hash = '#/queue';
    });
    await page.reload();
    await page.waitForSelector('[data-testid="login-page"]');
    expect(await page.evaluate(() => localStorage.getItem('rwc.tokens'))).toBeNull();
  });
});
