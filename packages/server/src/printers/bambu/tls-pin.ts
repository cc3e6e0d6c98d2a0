/**
 * Trust on first use for printers whose certificate is not from Bambu Lab's CA (older or odd
 * firmware, self-signed test rigs). The CN must still equal the serial. The first time such a
 * printer is seen, its self-signed certificate (or the self-signed root it presents) is pinned in the
 * printer's data dir and added to the trusted CAs; from then on only that certificate is accepted,
 * like SSH's known_hosts. A certificate that changes later is refused with a clear note.
 * A printer that presents a CA-signed leaf without its root cannot be pinned this way: the user
 * gives the CA (connection.caCertPem) or opts out (insecureTls).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls, { type DetailedPeerCertificate } from 'node:tls';

export interface PinRecord {
  serial: string;
  host: string;
  pem: string;
  fingerprint256: string;
  pinnedAt: string;
}

const FILE = 'tls-pin.json';

/**
 * The pinned certificate of this printer. A pin follows the printer's certificate, not its address:
 * a printer that moved to a new IP keeps its pin; a new serial starts over.
 */
export function loadPin(dataDir: string, serial: string, _host?: string): PinRecord | null {
  try {
    const rec = JSON.parse(fs.readFileSync(path.join(dataDir, FILE), 'utf8')) as PinRecord;
    return rec.serial === serial && rec.pem.includes('BEGIN CERTIFICATE') ? rec : null;
  } catch {
    return null;
  }
}

const SEEN = 'tls-seen.json';
const CANDIDATE = 'tls-candidate.json';

/**
 * Trust on first use is for a printer's *first* connection only. Once a printer has connected with
 * a verified certificate, any certificate that would need a new pin (a changed certificate, or a
 * new host or serial that now presents a self-signed one) waits for an admin's confirmation.
 */
export function markConnected(dataDir: string, serial: string, host: string, at: string): void {
  const file = path.join(dataDir, SEEN);
  if (fs.existsSync(file)) return;
  try {
    fs.writeFileSync(file, JSON.stringify({ serial, host, firstConnectedAt: at }), { mode: 0o600 });
  } catch {
    // The data dir is gone (printer deleted): nothing to remember.
  }
}

export function hasConnectedBefore(dataDir: string): boolean {
  return fs.existsSync(path.join(dataDir, SEEN)) || fs.existsSync(path.join(dataDir, FILE));
}

/** A certificate seen but not trusted, kept until an admin confirms it by its fingerprint. */
export function saveCandidate(dataDir: string, rec: PinRecord): void {
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(path.join(dataDir, CANDIDATE), JSON.stringify(rec, null, 2), { mode: 0o600 });
}

export function loadCandidate(dataDir: string): PinRecord | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, CANDIDATE), 'utf8')) as PinRecord;
  } catch {
    return null;
  }
}

export function dropCandidate(dataDir: string): void {
  fs.rmSync(path.join(dataDir, CANDIDATE), { force: true });
}

export function savePin(dataDir: string, rec: PinRecord): void {
  fs.mkdirSync(dataDir, { recursive: true });
  const tmp = path.join(dataDir, `${FILE}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(rec, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, path.join(dataDir, FILE));
}

/** Chain errors that pinning can answer (not a CN mismatch, not an expired certificate). */
export function isUntrustedChainError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT'
  );
}

function toPem(raw: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

export interface ProbeResult {
  commonName: string | null;
  /** The self-signed certificate at the top of the presented chain, or null when there is none. */
  anchorPem: string | null;
  fingerprint256: string | null;
}

/**
 * Looks at the printer's certificate without trusting it and without sending anything: the TLS
 * handshake only, then close. Credentials never go over an unverified connection.
 */
export function probeCertificate(opts: { host: string; port: number; serial: string; timeoutMs: number }): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      servername: opts.serial,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake from ${opts.host}:${opts.port} within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate;
      socket.destroy();
      const cn = leaf?.subject?.CN;
      let top: DetailedPeerCertificate = leaf;
      for (let i = 0; i < 10 && top.issuerCertificate && top.issuerCertificate !== top; i++) top = top.issuerCertificate;
      const selfSigned = !!top?.raw && (top.issuerCertificate === top || isSelfIssued(top));
      resolve({
        commonName: Array.isArray(cn) ? (cn[0] ?? null) : (cn ?? null),
        anchorPem: selfSigned ? toPem(top.raw) : null,
        fingerprint256: top?.raw ? crypto.createHash('sha256').update(top.raw).digest('hex') : null,
      });
    });
  });
}

function isSelfIssued(cert: DetailedPeerCertificate): boolean {
  try {
    const x = new crypto.X509Certificate(cert.raw);
    return x.checkIssued(x) && x.verify(x.publicKey);
  } catch {
    return false;
  }
}
