import { ConfigError } from './config/config.ts';
import { startServer } from './main.ts';

/** `npm start`: run until SIGTERM/SIGINT; one clear line and exit 1 on a bad setting or a taken port. */
async function main(): Promise<void> {
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer();
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : `cannot start: ${(err as Error).message}`;
    process.stderr.write(`realworldclaw: ${message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.infra.logger.info({ signal }, 'shutting down');
    // A hung driver must not keep the process alive for ever.
    setTimeout(() => process.exit(1), 15_000).unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
