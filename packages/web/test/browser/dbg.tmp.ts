import { ensureWebBuilt, launchChromium, startTestServer } from './harness.ts';
ensureWebBuilt();
const { server } = await startTestServer();
const api = async (m: string, u: string, b?: unknown, tok = '') => {
  const r = await fetch(`${server.url}/api/v1${u}`, { method: m, headers: { 'content-type': 'application/json', ...(tok ? { authorization: `Bearer ${tok}` } : {}) }, body: b ? JSON.stringify(b) : undefined });
  return r.json();
};
await api('POST', '/setup', { username: 'admin', password: 'correct-horse-9' });
const tokens = await api('POST', '/auth/login', { username: 'admin', password: 'correct-horse-9' });
await api('POST', '/printers', { name: 'Gone-A1', driver: 'bambu', model: 'A1', connection: { host: '127.0.0.1', serial: '03919A3B0100999', accessCode: '12345678', mqttPort: 1, ftpsPort: 2 } }, tokens.accessToken);
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
page.on('pageerror', (e) => console.log('PAGEERROR', e.stack));
page.on('console', (m) => m.type() === 'error' && console.log('CONSOLE', m.text()));
await page.goto(server.url);
await page.evaluate((t) => { localStorage.setItem('rwc.tokens', JSON.stringify(t)); localStorage.setItem('rwc.locale', 'en'); }, tokens);
await page.goto(`${server.url}/#/printers`);
await page.reload();
await page.waitForTimeout(4000);
for (const h of process.argv.slice(2)) {
  await page.evaluate((x) => { window.location.hash = x; }, h);
  await page.waitForTimeout(2500);
  await page.screenshot({ path: `/tmp/opsweb-dbg/${h.replace(/[^a-z0-9]/gi, '_')}.png`, fullPage: true });
}
await browser.close();
await server.close();
process.exit(0);
