import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Encrypts secrets at rest (printer access codes, Moonraker API keys) with AES-256-GCM.
 * The key lives in <dataDir>/secret.key (mode 0600), outside the database, so a leaked database
 * dump alone does not reveal the secrets.
 */
export class SecretBox {
  #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('secret key must be 32 bytes');
    this.#key = key;
  }

  static fromDataDir(dataDir: string, fileName = 'secret.key'): SecretBox {
    return new SecretBox(loadOrCreateKey(dataDir, fileName));
  }

  encrypt(plain: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `enc:v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  decrypt(sealed: string): string {
    if (!sealed.startsWith('enc:v1:')) throw new Error('not an encrypted value');
    const raw = Buffer.from(sealed.slice(7), 'base64');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  static isSealed(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith('enc:v1:');
  }
}

/** Reads a 32-byte key file, creating it (0600) on first use. */
export function loadOrCreateKey(dataDir: string, fileName: string): Buffer {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, fileName);
  try {
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length === 32) return key;
    throw new Error(`${file} is not a valid key file (expected 32 bytes, base64)`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = crypto.randomBytes(32);
  // Written whole to a temp file, then linked into place (fails if the name exists): two processes
  // starting at once on a shared data dir never overwrite each other's key, and neither ever reads
  // a half-written one.
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, key.toString('base64'), { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateKey(dataDir, fileName);
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
