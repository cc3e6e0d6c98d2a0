/**
 * A private Mosquitto for one test: its own config, ports picked by the OS, the dynamic-security
 * plugin with a fresh admin, and (optionally) a TLS listener with a self-signed certificate. It
 * never touches the system broker or its configuration.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from '../../server/test/helpers/server.ts';
import { waitFor } from '../../server/test/helpers/wait.ts';

const DYNSEC_PLUGIN = ['/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so', '/usr/lib/mosquitto_dynamic_security.so', '/usr/local/lib/mosquitto_dynamic_security.so'].find((p) =>
  fs.existsSync(p),
);

export interface PrivateMosquitto {
  port: number;
  tlsPort: number | null;
  /** CA (the self-signed certificate itself) for mqtts clients. */
  caFile: string | null;
  admin: { username: string; password: string };
  /** mqtt://admin:…@127.0.0.1:port */
  adminUrl: string;
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startMosquitto(opts: { tls?: boolean } = {}): Promise<PrivateMosquitto> {
  if (!DYNSEC_PLUGIN) throw new Error('mosquitto_dynamic_security.so not found: install the mosquitto package');
  const dir = tempDir('rwc-mosquitto-');
  const admin = { username: 'rwc-admin', password: crypto.randomBytes(12).toString('hex') };
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', path.join(dir, 'dynsec.json'), admin.username, admin.password], { stdio: 'ignore' });
  const port = await freePort();
  const lines = [
    // Running as root, Mosquitto would switch to its own user, which cannot read this temp dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'per_listener_settings false',
    'allow_anonymous false',
    'persistence false',
    'log_dest stderr',
    `plugin ${DYNSEC_PLUGIN}`,
    `plugin_opt_config_file ${path.join(dir, 'dynsec.json')}`,
    `listener ${port} 127.0.0.1`,
  ];
  let tlsPort: number | null = null;
  let caFile: string | null = null;
  if (opts.tls) {
    tlsPort = await freePort();
    caFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', caFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    lines.push(`listener ${tlsPort} 127.0.0.1`, `certfile ${caFile}`, `keyfile ${path.join(dir, 'key.pem')}`);
  }
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, `${lines.join('\n')}\n`);
  let output = '';
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await waitFor(() => /running/.test(output) || child.exitCode !== null, 'mosquitto to start', 10_000);
  if (child.exitCode !== null) throw new Error(`mosquitto did not start:\n${output}`);
  return {
    port,
    tlsPort,
    caFile,
    admin,
    adminUrl: `mqtt://${admin.username}:${admin.password}@127.0.0.1:${port}`,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
