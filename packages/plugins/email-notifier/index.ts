/** E-mail notifier over SMTP with nodemailer; one transport per config (pooled connections). */
import { definePlugin } from '@rwc/plugin-sdk';
import nodemailer, { type Transporter } from 'nodemailer';
import { type NotifyArgs, notifyInput, snapshotOf, testAlert, textOf, titleOf } from '../_shared/notify.ts';

interface Config {
  host: string;
  port: number;
  secure: boolean;
  requireTls: boolean;
  rejectUnauthorized: boolean;
  username?: string;
  password?: string;
  from: string;
  to: string[];
  includeSnapshot: boolean;
  alerts: string[];
}

let transport: Transporter | null = null;

function transportFor(c: Config): Transporter {
  transport ??= nodemailer.createTransport({
    host: c.host,
    port: c.port,
    secure: c.secure,
    requireTLS: c.requireTls,
    auth: c.username ? { user: c.username, pass: c.password ?? '' } : undefined,
    tls: { rejectUnauthorized: c.rejectUnauthorized },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return transport;
}

async function send(a: NotifyArgs, c: Config): Promise<{ messageId: string }> {
  const snapshot = c.includeSnapshot ? snapshotOf(a) : null;
  const info = await transportFor(c).sendMail({
    from: c.from,
    to: c.to,
    subject: `[RealWorldClaw] ${titleOf(a)}`,
    text: textOf(a),
    attachments: snapshot ? [{ filename: 'snapshot.jpg', content: snapshot, contentType: 'image/jpeg' }] : [],
  });
  return { messageId: String(info.messageId) };
}

export default definePlugin<Config>({
  entries: {
    notify: { input: notifyInput, handler: (args: NotifyArgs, ctx) => send(args, ctx.config.get()) },
    test: { description: 'Send a test e-mail', handler: (_args, ctx) => send(testAlert(), ctx.config.get()) },
  },
  // A new config means a new transport.
  reload: async () => {
    transport?.close();
    transport = null;
  },
  shutdown: async () => transport?.close(),
});
