/**
 * Test PKI mirroring Bambu's: a private CA ("BBL"-like) and one leaf per printer whose CN and SAN
 * equal the serial, so a driver can verify "CN == serial" with `servername: serial` against this
 * CA exactly as against the real BBL CA (bambu-protocol.md §1.1). Made with the openssl CLI
 * (EC P-256: fast) and cached per process: one CA, one leaf per serial.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const OPENSSL = process.env.OPENSSL_BIN ?? 'openssl';

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

export interface LeafMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
}

let caPromise: Promise<CaMaterial> | null = null;
const leafCache = new Map<string, Promise<LeafMaterial>>();

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'rwc-bambu-pki-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(): Promise<CaMaterial> {
  return withTempDir(async (dir) => {
    const key = join(dir, 'ca.key');
    const crt = join(dir, 'ca.crt');
    await run(OPENSSL, [
      'req',
      '-x509',
      '-new',
      ...EC_KEY,
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '3650',
      '-sha256',
      '-subj',
      '/C=CN/O=BBL Technologies Co., Ltd/CN=RWC Simulated BBL Device CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { certPem: await readFile(crt, 'utf8'), keyPem: await readFile(key, 'utf8') };
  });
}

async function makeLeaf(serial: string, ca: CaMaterial): Promise<LeafMaterial> {
  if (!/^[A-Za-z0-9-]+$/.test(serial)) throw new Error(`serial must be alphanumeric: ${serial}`);
  return withTempDir(async (dir) => {
    const caKey = join(dir, 'ca.key');
    const caCrt = join(dir, 'ca.crt');
    const key = join(dir, 'leaf.key');
    const crt = join(dir, 'leaf.crt');
    await writeFile(caKey, ca.keyPem, { mode: 0o600 });
    await writeFile(caCrt, ca.certPem);
    await run(OPENSSL, [
      'req',
      '-x509',
      '-new',
      ...EC_KEY,
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '3650',
      '-sha256',
      '-CA',
      caCrt,
      '-CAkey',
      caKey,
      '-subj',
      `/C=CN/O=BBL Technologies Co., Ltd/CN=${serial}`,
      '-addext',
      `subjectAltName=DNS:${serial}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      '-addext',
      'extendedKeyUsage=serverAuth',
    ]);
    return { certPem: await readFile(crt, 'utf8'), keyPem: await readFile(key, 'utf8'), caPem: ca.certPem };
  });
}

/** The process-wide simulated CA (PEM). Trust this in a driver under test. */
export function simulatorCa(): Promise<CaMaterial> {
  caPromise ??= makeCa().catch((e) => {
    caPromise = null;
    throw e;
  });
  return caPromise;
}

/** Leaf certificate + key for `serial`, signed by the simulated CA. */
export function printerCertificate(serial: string): Promise<LeafMaterial> {
  let p = leafCache.get(serial);
  if (!p) {
    p = simulatorCa().then((ca) => makeLeaf(serial, ca));
    p.catch(() => leafCache.delete(serial));
    leafCache.set(serial, p);
  }
  return p;
}
