/** Webhook notifier: one JSON POST per alert. */
import crypto from 'node:crypto';
import { definePlugin } from '@rwc/plugin-sdk';
import { type NotifyArgs, expectOk, notifyInput, snapshotOf, testAlert, textOf, titleOf } from '../_shared/notify.ts';

interface Config {
  url: string;
  secret?: string;
  includeSnapshot: boolean;
  alerts: string[];
}

async function send(a: NotifyArgs, config: Config): Promise<{ status: number }> {
  const snapshot = config.includeSnapshot ? snapshotOf(a) : null;
  const body = JSON.stringify({
    event: 'alert',
    alert: a.alert,
    printerName: a.printerName,
    title: titleOf(a),
    text: textOf(a),
    at: new Date().toISOString(),
    snapshot: snapshot ? { mime: 'image/jpeg', base64: snapshot.toString('base64') } : null,
  });
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'RealWorldClaw-webhook/1' };
  if (config.secret) headers['x-rwc-signature'] = `sha256=${crypto.createHmac('sha256', config.secret).update(body).digest('hex')}`;
  const res = await fetch(config.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15_000) });
  await expectOk(res, 'the webhook');
  return { status: res.status };
}

export default definePlugin<Config>({
  entries: {
    notify: { input: notifyInput, handler: (args: NotifyArgs, ctx) => send(args, ctx.config.get()) },
    test: { description: 'Send a test notification', handler: (_args, ctx) => send(testAlert(), ctx.config.get()) },
  },
});
