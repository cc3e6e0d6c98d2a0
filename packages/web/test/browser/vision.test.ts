/**
 * AI monitoring in a real browser against the real server: the demo's stand-in detector watches
 * a simulated Klipper printer (real Moonraker protocol, webcam announced and served); the AI panel
 * shows the frame and the score chart; "Make it fail (demo)" turns the print into spaghetti and
 * the panel shows the AI pause; the history page lists it with its frame and boxes; the kiosk
 * screen shows status, temperatures and the verdict, in both languages. Screenshots go to
 * test-results/screenshots/vision-*.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunningServer } from '@rwc/server/main.ts';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuilt, launchChromium, screenshotDir, startTestServer } from './harness.ts';

let server: RunningServer;
let dataDir: string;
let browser: Browser;
let page: Page;
let printerId: string;
let token: string;
const consoleErrors: string[] = [];

async function api(method: string, url: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

const shot = (name: string) => page.screenshot({ path: path.join(screenshotDir, `vision-${name}.png`), fullPage: true, timeout: 120_000 });

beforeAll(async () => {
  fs.mkdirSync(screenshotDir, { recursive: true });
  ensureWebBuilt();
  ({ server, dataDir } = await startTestServer());
  await fetch(`${server.url}/api/v1/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'vision-pass-1' }) });
  token = ((await (await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'vision-pass-1' }) })).json()) as { accessToken: string }).accessToken;
  // A simulated Klipper printer with a long print (the demo's run 30× faster than the AI needs here).
  const p = await api('POST', '/api/v1/printers', { name: 'Klipper-AI', driver: 'simulated-moonraker', connection: { timeScale: 1, printSeconds: 3600 }, settings: { swapCooldownSeconds: 0 } });
  printerId = p.id;
  const settings = await api('PUT', `/api/v1/ai/printers/${printerId}/settings`, { enabled: true, detector: 'standin', intervalSeconds: 2, rule: { warmupFrames: 3 } });
  expect(settings.enabled).toBe(true);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  page = await context.newPage();
  // The machine running CI may be busy: give every wait room (none of them measures speed).
  page.setDefaultTimeout(120_000);
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${msg.text()} ${msg.location().url}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
  await page.goto(server.url);
  await page.waitForSelector('[data-testid="login-page"]');
  await page.fill('[data-testid="login-username"]', 'admin');
  await page.fill('[data-testid="login-password"]', 'vision-pass-1');
  await page.click('[data-testid="login-submit"]');
  await page.waitForSelector('[data-testid="nav-ai"]');
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('AI monitoring in the browser', () => {
  it('the demo fleet watches its camera printers with the stand-in detector', async () => {
    const demo = server.fleet.list().filter((p) => /^simulated-(bambu|moonraker)$/.test(p.summary.driver) && p.summary.id !== printerId);
    expect(demo.length).toBeGreaterThanOrEqual(3);
    for (const p of demo) {
      const s = await api('GET', `/api/v1/ai/printers/${p.summary.id}`);
      expect(s.settings).toMatchObject({ enabled: true, detector: 'standin' });
      expect(s.simulated).toBe(true);
    }
  });

  it('the printer page has the AI panel; a print is watched, then paused by the AI when it fails', async () => {
    const form = new FormData();
    const lines = ['; estimated printing time (normal mode) = 60m 0s', 'G28', ...Array.from({ length: 2000 }, (_, i) => `G1 X${100 + (i % 20)} Y100 E0.01`)];
    form.append('file', new Blob([lines.join('\n')]), 'tower-ai.gcode');
    const file = (await (await fetch(`${server.url}/api/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })).json()) as { id: string };
    await api('POST', '/api/v1/queue', { fileId: file.id, printerIds: [printerId] });
    await page.evaluate((id) => {
      window.location.hash = `#/printers/${id}`;
    }, printerId);
    await page.waitForSelector('[data-testid="ai-panel"]');
    await page.waitForSelector('[data-testid="ai-enabled"]:has-text("Watching")');
    // Clean checks arrive: the frame with no boxes and the caption.
    await page.waitForSelector('[data-testid="ai-latest"]:has-text("Looks fine")', { timeout: 180_000 });
    expect(await page.locator('[data-testid="ai-box"]').count()).toBe(0);
    await shot('panel-clean');

    await page.click('[data-testid="ai-demo-fault"]');
    await page.waitForSelector('[data-testid="ai-paused-tag"]', { timeout: 180_000 });
    await page.waitForSelector('[data-testid="ai-box"]', { timeout: 120_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="ai-frame"] img') !== null);
    const state = await api('GET', `/api/v1/printers/${printerId}`);
    expect(state.state.status).toBe('paused');
    expect((await api('GET', '/api/v1/queue')).running).toBe(false);
    // The alert pops up, saying the AI paused it.
    await page.waitForSelector('.rwc-alert-popup:has-text("AI paused Klipper-AI")', { timeout: 120_000 });
    await shot('panel-paused');
  }, 600_000);

  it('the history page lists the AI pause with its frame and boxes', async () => {
    await page.click('[data-testid="nav-ai"]');
    await page.waitForSelector('[data-testid="ai-history-item"][data-verdict="pause"]');
    const item = page.locator('[data-testid="ai-history-item"][data-verdict="pause"]').first();
    await item.locator('[data-testid="ai-frame"] img').waitFor();
    expect(await item.locator('[data-testid="ai-box"]').count()).toBeGreaterThan(0);
    await shot('history');
  }, 300_000);

  it('the kiosk screen shows status, temperatures and the verdict, and resumes the print', async () => {
    await page.evaluate((id) => {
      window.location.hash = `#/kiosk/${id}`;
    }, printerId);
    await page.waitForSelector('[data-testid="kiosk-status"][data-status="paused"]');
    await page.waitForSelector('[data-testid="kiosk-verdict"]:has-text("Possible failure")');
    await shot('kiosk-paused');
    await page.click('[data-testid="kiosk-resume"]');
    await page.waitForSelector('[data-testid="kiosk-status"][data-status="printing"]', { timeout: 120_000 });
    // The same screen in Chinese.
    await page.evaluate(() => localStorage.setItem('rwc.locale', 'zh-CN'));
    await page.reload();
    await page.waitForSelector('[data-testid="kiosk-ai-check"]:has-text("立即 AI 检测")');
    await page.click('[data-testid="kiosk-ai-check"]');
    await page.waitForSelector('[data-testid="kiosk-verdict"]:has-text("可能是")');
    await shot('kiosk-zh');
    await api('POST', '/api/v1/printer/control', { command: 'cancel', printerId });
  }, 400_000);

  it('no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
