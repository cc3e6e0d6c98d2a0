/**
 * Swagger UI at /api/docs works under the server's Content-Security-Policy in a real browser
 * (Debian chromium through playwright-core): it renders the operations and the browser reports no
 * CSP violation. The dashboard's own browser test covers the Vue UI under the same policy.
 */
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, startTestServer } from '../helpers/server.ts';

describe('API docs under the CSP, in chromium', () => {
  let s: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    s = await startTestServer();
    browser = await chromium.launch({
      executablePath: process.env.RWC_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.destroy();
  });

  it('renders the operations with no CSP violation', { timeout: 120_000 }, async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    const res = await page.goto(`${s.url}/api/docs/`, { waitUntil: 'load' });
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await page.waitForSelector('.opblock-summary-path', { timeout: 60_000 });
    expect(await page.locator('.opblock-summary-path').count()).toBeGreaterThan(20);
    expect(problems).toEqual([]);
  });
});
