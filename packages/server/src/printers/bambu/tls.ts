/**
 * TLS settings shared by MQTT (8883), FTPS (990) and the camera (6000) (bambu-protocol.md §1.1).
 *
 * Printers present a certificate from Bambu's private CA with CN = serial. We trust the shipped BBL
 * CA bundle (ca/bbl-ca.pem, public CA certificates from OpenBambuAPI examples/ca_cert.pem) plus any
 * extra CA from connection.caCertPem, send SNI = serial, and check that the leaf CN equals the
 * configured serial instead of matching the IP (a real MITM check that does not depend on DNS).
 * TLS is capped at 1.2: X1C/H2D brokers refuse 1.3, and 1.3 breaks FTPS session reuse (pitfall 21).
 * `insecureTls` is an explicit per-printer opt-out for odd firmware (new per-model CAs).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';

let bundled: string[] | null = null;

/** The BBL CA certificates shipped with the driver, one PEM string each. */
export function bundledBambuCas(): string[] {
  if (!bundled) {
    const pem = readFileSync(new URL('./ca/bbl-ca.pem', import.meta.url), 'utf8');
    bundled = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  }
  return bundled;
}

export interface BambuTlsSettings {
  serial: string;
  caCertPem?: string | null;
  insecureTls?: boolean;
}

export class CertificateMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string | null,
  ) {
    super(`printer certificate CN "${actual ?? '(none)'}" does not match the configured serial "${expected}"`);
    this.name = 'CertificateMismatchError';
  }
}

function commonName(cert: PeerCertificate): string | null {
  const cn = cert?.subject?.CN as string | string[] | undefined;
  if (Array.isArray(cn)) return cn[0] ?? null;
  return cn ?? null;
}

/** The CAs a printer's certificate may chain to: the BBL bundle plus the connection's own CA. */
export function trustedCas(s: BambuTlsSettings): string[] {
  const ca = [...bundledBambuCas()];
  if (s.caCertPem) ca.push(s.caCertPem);
  return ca;
}

/**
 * `ca` may be passed in as a live list: a certificate pinned on first use (tls-pin.ts) is pushed
 * into it, and every later MQTT, FTPS and camera connection that holds these options trusts it.
 */
export function bambuTlsOptions(s: BambuTlsSettings, ca: string[] = trustedCas(s)): ConnectionOptions {
  const base: ConnectionOptions = { servername: s.serial, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' };
  if (s.insecureTls) return { ...base, rejectUnauthorized: false, checkServerIdentity: () => undefined };
  return {
    ...base,
    ca,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => {
      const cn = commonName(cert);
      return cn === s.serial ? undefined : new CertificateMismatchError(s.serial, cn);
    },
  };
}

export function isCertificateError(err: unknown): boolean {
  if (err instanceof CertificateMismatchError) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return (
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/i.test(code) ||
    /does not match the configured serial|certificate/i.test(message)
  );
}
