// `npm start`: builds the web UI once if it is missing, then runs the server (TypeScript via tsx).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';

const webConfig = 'packages/web/vite.config.ts';
if (fs.existsSync(webConfig) && !fs.existsSync('packages/web/dist/index.html')) {
  console.log('building the web UI (first start only)…');
  const build = spawnSync('npm', ['run', 'build', '-w', 'packages/web'], { stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('realworldclaw: the web UI did not build; the API still starts');
  }
}
const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/cli.ts'], { stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
