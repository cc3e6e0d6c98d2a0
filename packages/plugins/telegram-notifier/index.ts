/** Telegram notifier over the Bot API (https://core.telegram.org/bots/api#sendmessage, #sendphoto). */
import { PluginError, definePlugin } from '@rwc/plugin-sdk';
import { type NotifyArgs, notifyInput, snapshotOf, testAlert, textOf, titleOf } from '../_shared/notify.ts';

interface Config {
  botToken: string;
  chatId: string;
  apiBase: string;
  includeSnapshot: boolean;
  alerts: string[];
}

async function send(a: NotifyArgs, c: Config): Promise<{ messageId: number | null }> {
  const url = (method: string) => `${c.apiBase.replace(/\/+$/, '')}/bot${c.botToken}/${method}`;
  const text = `${titleOf(a)}\n${textOf(a)}`;
  const snapshot = c.includeSnapshot ? snapshotOf(a) : null;
  let res: Response;
  if (snapshot) {
    const form = new FormData();
    form.append('chat_id', c.chatId);
    // Photo captions are limited to 1024 characters.
    form.append('caption', text.slice(0, 1024));
    form.append('photo', new Blob([snapshot], { type: 'image/jpeg' }), 'snapshot.jpg');
    res = await fetch(url('sendPhoto'), { method: 'POST', body: form, signal: AbortSignal.timeout(15_000) });
  } else {
    res = await fetch(url('sendMessage'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: c.chatId, text: text.slice(0, 4096), disable_web_page_preview: true }),
      signal: AbortSignal.timeout(15_000),
    });
  }
  const body = (await res.json().catch(() => null)) as { ok?: boolean; description?: string; result?: { message_id?: number } } | null;
  if (!res.ok || !body?.ok) {
    // The token is part of the URL: never repeat the URL in an error.
    throw new PluginError('delivery_failed', `Telegram answered ${res.status}: ${body?.description ?? 'no description'}`);
  }
  return { messageId: body.result?.message_id ?? null };
}

export default definePlugin<Config>({
  entries: {
    notify: { input: notifyInput, handler: (args: NotifyArgs, ctx) => send(args, ctx.config.get()) },
    test: { description: 'Send a test notification', handler: (_args, ctx) => send(testAlert(), ctx.config.get()) },
  },
});
