/**
 * The plugins page in Debian's chromium against the real server with the demo farm: the demo
 * detector runs, a notifier is configured through the form generated from its JSON Schema (its
 * secret never comes back), enabled, and its "test" entry sends to a local webhook stand-in; a
 * run's result shows; the log streams.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '@rwc/server/main.ts';
import { ensureWebBuilt, launchChromium, screenshotDir, startTestServer } from './harness.ts';

describe('plugins page', () => {
  let server: RunningServer;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  let token: string;
  const hooks: Array<{ headers: http.IncomingHttpHeaders; body: any }> = [];
  const hookServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      hooks.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.end('{}');
    });
  });
  const errors: string[] = [];

  beforeAll(async () => {
    ensureWebBuilt();
    ({ server, dataDir } = await startTestServer());
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    await fetch(`${server.url}/api/v1/setup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'correct-horse-battery' }) });
    const tokens = await (
      await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'correct-horse-battery' }) })
    ).json();
    token = tokens.accessToken;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.addInitScript((t) => {
      localStorage.setItem('rwc.tokens', JSON.stringify(t));
      localStorage.setItem('rwc.locale', 'en');
    }, tokens);
    await server.plugins.whenStarted();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    hookServer.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const shot = (name: string) => {
    fs.mkdirSync(screenshotDir, { recursive: true });
    return page.screenshot({ path: path.join(screenshotDir, `plugins-${name}.png`), fullPage: true });
  };

  it('lists the plugins with their states', async () => {
    await page.goto(`${server.url}/#/plugins`);
    await page.waitForSelector('[data-testid="plugin-demo-detector"]');
    await page.waitForSelector('[data-testid="plugin-state-demo-detector"][data-state="running"]', { timeout: 30_000 });
    expect(await page.getAttribute('[data-testid="plugin-state-webhook-notifier"]', 'data-state')).toBe('disabled');
    expect(await page.textContent('[data-testid="plugin-demo-detector"]')).toContain('detector@1');
    await shot('list');
  });

  it('configures a notifier through the form generated from its schema', async () => {
    await page.click('[data-testid="plugin-details-webhook-notifier"]');
    await page.waitForSelector('[data-testid="plugin-drawer"]');
    await page.getByRole('tab', { name: 'Settings' }).click();
    await page.waitForSelector('[data-testid="field-url"] input');
    const url = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`;
    await page.fill('[data-testid="field-url"] input', 'not a url');
    await page.click('[data-testid="config-save"]');
    await page.waitForSelector('[data-testid="config-error"]');
    expect(await page.textContent('[data-testid="config-error"]')).toContain('config.url');
    await page.fill('[data-testid="field-url"] input', url);
    await page.fill('[data-testid="field-secret"] input', 'shh-browser-secret');
    expect(await page.isChecked('[data-testid="field-alerts"] input[value="queue_finished"]')).toBe(true);
    await page.click('[data-testid="config-save"]');
    await page.waitForSelector('[data-testid="field-secret"] input[placeholder^="Set"]');
    expect(await page.inputValue('[data-testid="field-secret"] input')).toBe('');
    const cfg = await (await fetch(`${server.url}/api/v1/plugins/webhook-notifier/config`, { headers: { authorization: `Bearer ${token}` } })).json();
    expect(cfg).toMatchObject({ config: { url }, secrets: { secret: true } });
    await shot('config');
  });

  it('enables it and runs its test entry', async () => {
    await page.keyboard.press('Escape');
    await page.click('[data-testid="plugin-enable-webhook-notifier"]');
    await page.waitForSelector('[data-testid="plugin-state-webhook-notifier"][data-state="running"]', { timeout: 30_000 });
    await page.click('[data-testid="plugin-details-webhook-notifier"]');
    await page.getByRole('tab', { name: 'Entries' }).click();
    await page.click('[data-testid="run-test"]');
    await page.waitForSelector('[data-testid="run-status-test"]:has-text("Succeeded")', { timeout: 30_000 });
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.body.alert.code).toBe('notification_test');
    expect(hooks[0]!.headers['x-rwc-signature']).toMatch(/^sha256=/);
    await page.getByRole('tab', { name: 'Logs' }).click();
    await page.waitForSelector('[data-testid="plugin-logs"] .line');
    await shot('entries');
  });

  it('shows a run result of the demo detector and no page errors', async () => {
    await page.keyboard.press('Escape');
    await page.click('[data-testid="plugin-details-demo-detector"]');
    await page.getByRole('tab', { name: 'Entries' }).click();
    await page.click('[data-testid="run-lookNow"]');
    await page.waitForSelector('[data-testid="run-result-lookNow"]', { timeout: 30_000 });
    await page.getByRole('tab', { name: 'Messages' }).click();
    await page.waitForSelector('[data-testid="records-messages"] li');
    expect(await page.textContent('[data-testid="records-messages"]')).toContain('Print watch');
    await shot('messages');
    // The one expected error: the browser logs the 400 of the deliberately invalid URL.
    expect(errors.filter((e) => e.includes('status of 400'))).toHaveLength(1);
    expect(errors.filter((e) => !e.includes('status of 400'))).toEqual([]);
  });
});
