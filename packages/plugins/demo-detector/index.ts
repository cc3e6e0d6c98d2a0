/**
 * The demo farm's plugin: a detector@1 the server can use like any other, and a watcher that
 * shows the plugin machinery at work (timer runs, events, messages, metrics) while the demo prints.
 */
import { type RunContext, definePlugin } from '@rwc/plugin-sdk';
import { jpegStats } from './jpeg-stats.ts';

interface Config {
  threshold: number;
  watch: boolean;
}

const MODEL = 'demo-entropy-v1';

function detect(jpeg: Uint8Array, threshold: number) {
  const s = jpegStats(jpeg);
  const score = Math.min(1, s.entropy / 8);
  const detections =
    score >= threshold && s.width > 0
      ? [{ label: 'suspicious', confidence: Math.round(score * 1000) / 1000, box: [Math.round(s.width / 4), Math.round(s.height / 4), Math.round(s.width / 2), Math.round(s.height / 2)] as [number, number, number, number] }]
      : [];
  return { detections, model: MODEL, score, width: s.width, height: s.height };
}

/** Looks at every printing printer's camera once and posts one message with what it saw. */
async function lookNow(ctx: RunContext<Config>) {
  const printers = (await ctx.printers.list()).filter((p) => p.status === 'printing');
  const seen: Array<{ printer: string; score: number | null; suspicious: boolean }> = [];
  for (const [i, p] of printers.entries()) {
    ctx.run.progress(i / Math.max(1, printers.length), p.name);
    const jpeg = await ctx.printers.snapshot(p.id).catch(() => null);
    if (!jpeg) {
      seen.push({ printer: p.name, score: null, suspicious: false });
      continue;
    }
    const r = detect(jpeg, ctx.config.get().threshold);
    seen.push({ printer: p.name, score: Math.round(r.score * 100) / 100, suspicious: r.detections.length > 0 });
    ctx.run.metric(`score.${p.name}`, r.score);
  }
  const text = seen.length
    ? seen.map((s) => `${s.printer}: ${s.score === null ? 'no camera' : s.suspicious ? `suspicious (${s.score})` : `looks fine (${s.score})`}`).join('; ')
    : 'no printer is printing';
  ctx.pushMessage({ type: 'watch', title: 'Print watch', text, data: seen });
  return seen;
}

export default definePlugin<Config>({
  entries: {
    detect: {
      description: 'detector@1: look at one JPEG frame',
      input: { type: 'object', required: ['jpegBase64'], properties: { jpegBase64: { type: 'string', minLength: 4 }, printerId: { type: ['string', 'null'] } } },
      handler: async (args: { jpegBase64: string }, ctx) => {
        const r = detect(Buffer.from(args.jpegBase64, 'base64'), ctx.config.get().threshold);
        ctx.run.metric('score', r.score);
        return { detections: r.detections, model: r.model };
      },
    },
    lookNow: { description: 'Look at every printing printer once and post what was seen', handler: (_args, ctx) => lookNow(ctx) },
  },
  timers: {
    watch: {
      every: 60,
      handler: async (ctx) => {
        if (!ctx.config.get().watch) return 'off';
        return lookNow(ctx);
      },
    },
  },
  events: {
    'job.started': async (data: { printerId: string; fileName: string }, ctx) => {
      const p = (await ctx.printers.list()).find((x) => x.id === data.printerId);
      ctx.pushMessage({ type: 'job', title: 'Watching a new print', text: `${p?.name ?? data.printerId} started ${data.fileName}` });
    },
  },
  startup: async (ctx) => ctx.log.info(`demo detector ready (threshold ${ctx.config.get().threshold})`),
});
