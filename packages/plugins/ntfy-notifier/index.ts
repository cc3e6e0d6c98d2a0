/**
 * ntfy notifier (https://docs.ntfy.sh/publish/). Without a frame: a JSON publish to the server root
 * (UTF-8 safe). With a frame: a PUT of the JPEG to /<topic> with `Filename`, and the text in
 * headers (non-ASCII in RFC 2047 encoded words, which ntfy decodes).
 */
import { definePlugin } from '@rwc/plugin-sdk';
import { type NotifyArgs, expectOk, notifyInput, snapshotOf, testAlert, textOf, titleOf } from '../_shared/notify.ts';

interface Config {
  server: string;
  topic: string;
  token?: string;
  includeSnapshot: boolean;
  alerts: string[];
}

const priority = { info: 3, warning: 4, error: 5 } as const;
const tags = { info: 'information_source', warning: 'warning', error: 'rotating_light' } as const;

/** Header-safe text: ASCII as is, anything else as an RFC 2047 encoded word. */
export function headerValue(text: string): string {
  const flat = text.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(flat) ? flat : `=?UTF-8?B?${Buffer.from(flat, 'utf8').toString('base64')}?=`;
}

async function send(a: NotifyArgs, c: Config): Promise<{ status: number }> {
  const base = c.server.replace(/\/+$/, '');
  const auth: Record<string, string> = c.token ? { authorization: `Bearer ${c.token}` } : {};
  const level = a.alert.level;
  const snapshot = c.includeSnapshot ? snapshotOf(a) : null;
  let res: Response;
  if (snapshot) {
    res = await fetch(`${base}/${c.topic}`, {
      method: 'PUT',
      body: snapshot,
      headers: {
        ...auth,
        Filename: 'snapshot.jpg',
        Title: headerValue(titleOf(a)),
        Message: headerValue(textOf(a)),
        Priority: String(priority[level] ?? 3),
        Tags: tags[level] ?? 'printer',
      },
      signal: AbortSignal.timeout(15_000),
    });
  } else {
    res = await fetch(base, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ topic: c.topic, title: titleOf(a), message: textOf(a), priority: priority[level] ?? 3, tags: [tags[level] ?? 'printer'] }),
      signal: AbortSignal.timeout(15_000),
    });
  }
  await expectOk(res, 'ntfy');
  return { status: res.status };
}

export default definePlugin<Config>({
  entries: {
    notify: { input: notifyInput, handler: (args: NotifyArgs, ctx) => send(args, ctx.config.get()) },
    test: { description: 'Send a test notification', handler: (_args, ctx) => send(testAlert(), ctx.config.get()) },
  },
});
