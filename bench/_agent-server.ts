// Child process for `npm run bench -- agent`: one server with its embedded agent broker.
import { startServer } from '../packages/server/src/main.ts';

const server = await startServer({
  env: {},
  config: { port: 0, host: '127.0.0.1', mqttPort: 0, demo: false, logLevel: 'warn', dataDir: process.env.BENCH_DATA_DIR! },
  webDist: null,
});
process.send?.({ url: server.url, mqttPort: server.broker!.port });
process.on('SIGTERM', () => {
  server.close().finally(() => process.exit(0));
});
