/**
 * The robot console in chromium against the real server in demo mode (the default project, a
 * simulated quadruped, loaded at start): take control, call StandUp and Move with JSON args, see the
 * telemetry pushes and the log live, upload a project ZIP, e-stop, and the phone layout (the e-stop
 * stays on screen). Run: `npx vitest run packages/web/test/browser/robot.test.ts`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { RunningServer } from '@rwc/server/main.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildZip } from '../../../server/test/library/zip-writer.ts';
import { ensureWebBuilt, launchChromium, screenshotDir, startTestServer } from './harness.ts';

let server: RunningServer;
let dataDir: string;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

async function post(url: string, body: unknown, token?: string) {
  const res = await fetch(server.url + url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return res.json() as Promise<any>;
}

/** Picks a method in the console's select. */
async function pickMethod(name: string): Promise<void> {
  await page.click('[data-testid="robot-method"]');
  await page.locator('.el-select-dropdown__item:visible', { hasText: new RegExp(`^${name.replace('.', '\\.')}(motion)?$`) }).click({ timeout: 10_000 });
}

async function call(name: string, args: string): Promise<string | null> {
  await pickMethod(name);
  await page.fill('[data-testid="robot-args"]', args);
  const before = await page.locator('[data-testid="robot-answer"]').textContent().catch(() => null);
  await page.click('[data-testid="robot-call"]');
  await page.waitForFunction(
    (prev) => {
      const el = document.querySelector('[data-testid="robot-answer"]');
      return !!el && el.textContent !== prev;
    },
    before,
  );
  return page.getAttribute('[data-testid="robot-answer"]', 'data-status');
}

beforeAll(async () => {
  fs.mkdirSync(screenshotDir, { recursive: true });
  ensureWebBuilt();
  ({ server, dataDir } = await startTestServer());
  await post('/api/v1/setup', { username: 'admin', password: 'correct-horse-9' });
  const tokens = await post('/api/v1/auth/login', { username: 'admin', password: 'correct-horse-9' });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  await context.addInitScript((t) => localStorage.setItem('rwc.tokens', t), JSON.stringify(tokens));
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`${msg.text()} ${msg.location().url}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('robot console in chromium', () => {
  it('shows the demo robot: default project loaded, methods listed, nobody in control', async () => {
    await page.goto(`${server.url}/#/robot`);
    await page.waitForSelector('[data-testid="robot-connection"]:has-text("Connected")');
    await page.waitForSelector('[data-testid="robot-worker-state"][data-state="ready"]', { timeout: 30_000 });
    expect(await page.textContent('[data-testid="robot-controller"]')).toContain('Nobody');
    expect(await page.textContent('[data-testid="robot-project"]')).toContain('Default project');
    expect(await page.isDisabled('[data-testid="robot-call"]')).toBe(true); // observers cannot call
    await page.click('[data-testid="robot-method"]');
    await page.locator('.el-select-dropdown__item:visible', { hasText: 'sport_client.StandUp' }).waitFor();
    const options = await page.locator('.el-select-dropdown__item:visible').allTextContents();
    expect(options).toEqual(expect.arrayContaining(['sport_client.StandUp', 'sport_client.GetState', 'sport_client.Movemotion']));
    await page.keyboard.press('Escape');
  });

  it('takes control and drives the dog: StandUp, Move with JSON args; telemetry and log update live', async () => {
    await page.click('[data-testid="robot-take-control"]', { timeout: 10_000 });
    await page.waitForSelector('[data-testid="robot-controller"]:has-text("(you)")', { timeout: 10_000 });
    expect(await call('sport_client.StandUp', '{}')).toBe('success');
    expect(await page.textContent('[data-testid="robot-answer"]')).toContain('"mode": "standing"');
    expect(await call('sport_client.Move', '{"vx": 0.4, "vy": 0, "vyaw": 0.1}')).toBe('success');
    const row = page.locator('[data-testid="robot-events"] tr[data-event="telemetry"]');
    await row.waitFor();
    const count = async () => Number(await row.locator('td.num').textContent());
    const first = await count();
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-testid="robot-events"] tr[data-event="telemetry"] td.num')?.textContent) > n + 5,
      first,
    );
    expect(await row.textContent()).toContain('"mode":"moving"');
    // The console's heartbeat keeps the deadman quiet while the dog walks.
    await page.waitForTimeout(1500);
    expect(await row.textContent()).toContain('"mode":"moving"');
    expect(await call('sport_client.Move', '{"vx": "fast"}')).toBe('error');
    expect(await page.textContent('[data-testid="robot-answer"]')).toMatch(/ValueError|could not convert/);
    await page.screenshot({ path: path.join(screenshotDir, 'robot-01-console.png'), fullPage: true });
  }, 90_000);

  it('e-stop stops the dog and says so in the log', async () => {
    await page.click('[data-testid="robot-estop"]');
    await page.waitForSelector('[data-testid="robot-log"] .log-line.system:has-text("estop")');
    const row = page.locator('[data-testid="robot-events"] tr[data-event="telemetry"]');
    await page.waitForFunction(() =>
      /"mode":"standing"/.test(document.querySelector('[data-testid="robot-events"] tr[data-event="telemetry"]')?.textContent ?? ''),
    );
    expect(await row.textContent()).toContain('"vx":0');
  });

  it('uploads a project ZIP and lists its methods', async () => {
    const zip = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-zip-')), 'greeter.zip');
    fs.writeFileSync(zip, buildZip([{ name: 'main.py', data: 'class Greeter:\n    def hello(self, name="robot"):\n        print("hello", name)\n        return "hi " + name\n\ngreeter = Greeter()\n' }]));
    await page.setInputFiles('[data-testid="robot-upload-input"]', zip);
    await page.waitForSelector('[data-testid="robot-project"]:has-text("greeter.zip")', { timeout: 30_000 });
    expect(await call('greeter.hello', '{"name": "console"}')).toBe('success');
    expect(await page.textContent('[data-testid="robot-answer"]')).toContain('hi console');
    await page.waitForSelector('[data-testid="robot-log"] .log-line.stdout:has-text("hello console")');
  }, 60_000);

  it('keeps the e-stop on screen on a phone and has no console errors', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    const box = await page.locator('[data-testid="robot-estop"]').boundingBox();
    expect(box).not.toBeNull();
    expect(box!.y + box!.height).toBeLessThanOrEqual(740);
    expect(box!.x + box!.width).toBeLessThanOrEqual(375);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: path.join(screenshotDir, 'robot-02-phone.png') });
    expect(consoleErrors).toEqual([]);
  });
});
