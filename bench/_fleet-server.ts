// Child process for `npm run bench -- fleet`: one server, measured from outside.
import { startServer } from '../packages/server/src/main.ts';

const server = await startServer({
  env: {},
  config: {
    port: 0,
    host: '127.0.0.1',
    mqttPort: 0,
    demo: false,
    logLevel: 'warn',
    dataDir: process.env.BENCH_DATA_DIR!,
    loginMaxFailures: 1000,
  },
  webDist: null,
});
process.send?.({ url: server.url });
process.on('SIGTERM', () => {
  server.close().finally(() => process.exit(0));
});
