/**
 * A self-signed certificate for the agent broker's TLS listener when none is configured, made once
 * with the openssl CLI (EC P-256) and kept in the data dir (key 0600). Agents pin it or skip
 * verification on a LAN; a configured RWC_MQTT_TLS_CERT/KEY pair replaces it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Reads `<base>.crt`/`<base>.key`, creating them first when missing. */
export async function ensureSelfSignedCert(base: string): Promise<{ cert: string; key: string }> {
  const certFile = `${base}.crt`;
  const keyFile = `${base}.key`;
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
    const tmpKey = `${keyFile}.${process.pid}.tmp`;
    const tmpCert = `${certFile}.${process.pid}.tmp`;
    await run(process.env.OPENSSL_BIN ?? 'openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      tmpKey,
      '-out',
      tmpCert,
      '-days',
      '3650',
      '-sha256',
      '-subj',
      `/CN=realworldclaw-agents-${os.hostname().replace(/[^A-Za-z0-9.-]/g, '')}`,
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    fs.chmodSync(tmpKey, 0o600);
    fs.renameSync(tmpKey, keyFile);
    fs.renameSync(tmpCert, certFile);
  }
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') };
}
