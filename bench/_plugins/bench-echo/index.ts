import { definePlugin } from '@rwc/plugin-sdk';

let events = 0;
export default definePlugin({
  entries: {
    echo: async (args: { n?: number }) => args.n ?? 0,
    events: async () => events,
  },
  events: { 'queue.changed': async () => void events++ },
});
