/**
 * The built-in notifier plugins (webhook, ntfy, Telegram, e-mail), run by the host like any plugin,
 * each delivering to a local stand-in over real sockets: the alerts a user subscribed to, with the
 * printer name, the reason and the camera frame; a failing notifier raises its own alert; the
 * queue's "finished" alert reaches them at the end of a real print.
 */
import { printerSnapshotJpeg } from '@rwc/simulators/bambu/jpeg.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert } from '../../src/alerts/raise.ts';
import { waitFor } from '../helpers/wait.ts';
import { type PluginServer, builtinPluginsDir, startPluginServer } from './helpers.ts';
import { HttpStandIn, SmtpStandIn } from './standins.ts';

const TG_TOKEN = '123456:test-bot-token';
const JPEG = printerSnapshotJpeg('RUNNING', 42, 320, 240);
const ids = ['webhook-notifier', 'ntfy-notifier', 'telegram-notifier', 'email-notifier'];

describe('built-in notifier plugins', () => {
  let s: PluginServer;
  let web: HttpStandIn;
  let smtp: SmtpStandIn;
  let printerId: string;

  beforeAll(async () => {
    web = new HttpStandIn(TG_TOKEN);
    smtp = new SmtpStandIn('farm', 'mail-password');
    await web.start();
    await smtp.start();
    // The shipped plugins in place: their bare imports (nodemailer) resolve from the repository.
    s = await startPluginServer([], { host: { builtinDirs: [builtinPluginsDir] } });
    const add = await s.api('POST', '/api/v1/printers', { name: 'Klipper-N', driver: 'simulated-moonraker', connection: { timeScale: 1, printSeconds: 3 }, settings: { swapCooldownSeconds: 0 } });
    printerId = add.body.id;
    // A camera for that printer, through the same registry a vision plugin would use.
    s.server.infra.registry.register('snapshot-source', 'test-camera', {
      covers: (id) => id === printerId,
      snapshot: async () => ({ jpeg: JPEG, at: new Date().toISOString() }),
    });
  });
  afterAll(async () => {
    await s?.close();
    await web?.stop();
    await smtp?.stop();
  });

  it('ship disabled until configured, and refuse a config that is not valid', async () => {
    for (const id of ids) expect((await s.state(id)).state).toBe('disabled');
    const bad = await s.api('PUT', '/api/v1/plugins/telegram-notifier/config', { botToken: 'nope', chatId: '42' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^config\.botToken/);
    const enabledWithout = await s.api('POST', '/api/v1/plugins/webhook-notifier/enable');
    expect(enabledWithout.body.state).toBe('failed');
    expect(enabledWithout.body.reason).toContain('config.url: is required');
  });

  it('are configured (secrets kept back) and enabled', async () => {
    const configs: Record<string, unknown> = {
      'webhook-notifier': { url: `${web.url}/hook`, secret: 'hook-secret' },
      'ntfy-notifier': { server: web.url, topic: 'farm', token: 'tk_ntfy' },
      'telegram-notifier': { botToken: TG_TOKEN, chatId: '42', apiBase: web.url },
      'email-notifier': { host: '127.0.0.1', port: smtp.port, username: 'farm', password: 'mail-password', from: 'farm@example.test', to: ['ops@example.test'] },
    };
    for (const id of ids) {
      const put = await s.api('PUT', `/api/v1/plugins/${id}/config`, configs[id]);
      expect(put.status).toBe(200);
      const text = JSON.stringify(put.body);
      for (const secret of ['hook-secret', 'tk_ntfy', TG_TOKEN, 'mail-password']) expect(text).not.toContain(secret);
      expect((await s.api('POST', `/api/v1/plugins/${id}/enable`)).body.state).toBe('running');
    }
    expect(s.server.infra.registry.list('notifier').map((n) => n.name).sort()).toEqual([...ids].sort());
  });

  it('send a printer error with the printer name, the reason and the camera frame to all four', async () => {
    raiseAlert(s.server.infra.bus, {
      level: 'error',
      code: 'queue_paused_printer_error',
      printerId,
      message: 'Klipper-N: heater extruder not heating at expected rate — the queue is paused',
    });
    await waitFor(() => web.on('/hook').length === 1 && web.on('/farm').length === 1 && web.on(/sendPhoto$/).length === 1 && smtp.mails.length === 1, 'all four deliveries');

    const hook = web.on('/hook')[0]!;
    expect(hook.json).toMatchObject({ event: 'alert', printerName: 'Klipper-N', alert: { code: 'queue_paused_printer_error', level: 'error', printerId } });
    expect(hook.json.alert.message).toContain('heater extruder not heating');
    expect(Buffer.from(hook.json.snapshot.base64, 'base64').equals(JPEG)).toBe(true);
    const crypto = await import('node:crypto');
    expect(hook.headers['x-rwc-signature']).toBe(`sha256=${crypto.createHmac('sha256', 'hook-secret').update(hook.body).digest('hex')}`);

    const ntfy = web.on('/farm')[0]!;
    expect(ntfy.method).toBe('PUT');
    expect(ntfy.body.equals(JPEG)).toBe(true);
    expect(ntfy.headers.filename).toBe('snapshot.jpg');
    expect(ntfy.headers.authorization).toBe('Bearer tk_ntfy');
    expect(ntfy.headers.priority).toBe('5');
    expect(String(ntfy.headers.title)).toContain('Klipper-N');

    const tg = web.on(/sendPhoto$/)[0]!;
    expect(tg.form!.get('chat_id')).toBe('42');
    expect(String(tg.form!.get('caption'))).toContain('heater extruder not heating');
    expect((tg.form!.get('photo') as Buffer).equals(JPEG)).toBe(true);

    const mail = smtp.mails[0]!;
    expect(mail).toMatchObject({ from: 'farm@example.test', to: ['ops@example.test'], user: 'farm' });
    expect(mail.raw).toMatch(/Subject: \[RealWorldClaw\] Klipper-N: Printer needs attention/);
    expect(mail.raw).toContain('heater extruder not heating');
    const attachment = /filename=snapshot\.jpg[\s\S]*?\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/.exec(mail.raw);
    expect(Buffer.from(attachment![1]!.replace(/\s/g, ''), 'base64').equals(JPEG)).toBe(true);
  });

  it('send only what each one is subscribed to', async () => {
    await s.api('PUT', '/api/v1/plugins/webhook-notifier/config', { url: `${web.url}/hook`, alerts: ['queue_finished'] });
    await s.waitState('webhook-notifier', 'running');
    const before = { hook: web.on('/hook').length, tg: web.on(/\/send/).length };
    raiseAlert(s.server.infra.bus, { level: 'error', code: 'job_failed', printerId, message: 'Klipper-N: cube.gcode failed' });
    raiseAlert(s.server.infra.bus, { level: 'info', code: 'some_other_notice', message: 'nobody subscribed to this' });
    await waitFor(() => web.on(/\/send/).length === before.tg + 1, 'telegram to send the job failure');
    await s.server.notifications.idle();
    expect(web.on('/hook').length).toBe(before.hook);
    expect(web.on(/\/send/).length).toBe(before.tg + 1);
  });

  it('send "queue finished" when the last queue job ends', async () => {
    const hooks = web.on('/hook').length;
    const form = new FormData();
    form.append('file', new Blob([';TIME:5\nG28\nG1 X1\n']), 'last.gcode');
    const up = await s.server.api('POST', '/api/v1/files', { token: s.token, body: form });
    await s.api('POST', '/api/v1/queue', { fileId: up.body.id, printerIds: [printerId] });
    await waitFor(() => web.on('/hook').length > hooks, 'the queue_finished webhook', 30_000);
    const last = web.on('/hook').at(-1)!;
    expect(last.json.alert).toMatchObject({ code: 'queue_finished', level: 'info', params: { done: 1, failed: 0, cancelled: 0 } });
    expect(last.json.snapshot).toBeNull();
  });

  it('a notifier that fails raises its own alert; the others still deliver', async () => {
    web.webhookStatus = 500;
    await s.api('PUT', '/api/v1/plugins/webhook-notifier/config', { url: `${web.url}/hook`, alerts: ['*'] });
    await s.waitState('webhook-notifier', 'running');
    const tg = web.on(/\/send/).length;
    raiseAlert(s.server.infra.bus, { level: 'warning', code: 'queue_paused', message: 'paused by a person' });
    await waitFor(async () => {
      const alerts = (await s.api('GET', '/api/v1/events?type=alert&limit=50')).body.map((e: { data: any }) => e.data);
      return alerts.find((a: any) => a.code === 'notification_failed' && a.params.notifier === 'webhook-notifier');
    }, 'the notification_failed alert');
    expect(web.on(/\/send/).length).toBe(tg + 1);
    const p = await s.state('webhook-notifier');
    expect(p.metrics.errors).toBeGreaterThan(0);
    expect(p.state).toBe('running');
    web.webhookStatus = 200;
  });

  it('have a "test" entry that sends a test notification', async () => {
    const n = web.on(/sendMessage$/).length;
    const r = await s.api('POST', '/api/v1/plugins/telegram-notifier/entries/test', {});
    expect((await s.waitRun(r.body.runId)).status).toBe('succeeded');
    expect(web.on(/sendMessage$/).length).toBe(n + 1);
    expect(web.on(/sendMessage$/).at(-1)!.json).toMatchObject({ chat_id: '42', text: expect.stringContaining('test notification') });
    const mails = smtp.mails.length;
    const m = await s.api('POST', '/api/v1/plugins/email-notifier/entries/test', {});
    expect((await s.waitRun(m.body.runId)).status).toBe('succeeded');
    expect(smtp.mails.length).toBe(mails + 1);
  });
});
