/**
 * Why a printer cannot be reached, as a stable code + params + English message (docs/operator-api-
 * printers.md, "Connection codes"). Drivers put it on `state.connectionIssue`; test-connection
 * answers with it; the unreachable alert carries its code. Pure: no I/O here.
 */

/** Every connection code the server can produce. */
export const connectionCodes = [
  'ok',
  'refused',
  'wrong_access_code',
  'certificate_mismatch',
  'certificate_untrusted',
  'certificate_changed',
  'tls_error',
  'timeout',
  'dns',
  'unreachable',
  'serial_port_missing',
  'serial_port_busy',
  'protocol_error',
  'no_reports',
  'firmware_not_ready',
  'disconnected',
  'agent_offline',
  'disabled',
  'unsupported',
  'other',
] as const;
export type ConnectionCode = (typeof connectionCodes)[number];

export interface ConnectionIssue {
  code: ConnectionCode;
  message: string;
  params: Record<string, unknown>;
}

/** Where the connection went, for the message and the params. */
export interface Target {
  host?: string;
  port?: number;
  path?: string;
}

const where = (t: Target) => (t.path ? t.path : t.host ? `${t.host}${t.port ? `:${t.port}` : ''}` : 'the printer');

/** The English text of a code (the web has the same in both languages under server.connection.<code>). */
export function connectionMessage(code: ConnectionCode, params: Record<string, unknown>): string {
  const at = String(params.where ?? 'the printer');
  switch (code) {
    case 'ok':
      return `connected to ${at}`;
    case 'refused':
      return `${at} refused the connection: nothing listens on that port (is the address right, is the printer on?)`;
    case 'wrong_access_code':
      return params.driver === 'moonraker' ? 'Moonraker refused the API key' : 'the printer refused the access code (check it on the printer’s screen)';
    case 'certificate_mismatch':
      return `the printer's certificate is for "${String(params.presentedName ?? '?')}", not the serial "${String(params.expectedSerial ?? '?')}"`;
    case 'certificate_untrusted':
      return "the printer's TLS certificate is not signed by a trusted CA";
    case 'certificate_changed':
      return "the printer's certificate changed since it was trusted; an admin must confirm the new one";
    case 'tls_error':
      return `TLS failed: ${String(params.detail ?? '')}`;
    case 'timeout':
      return `no answer from ${at} within ${String(params.seconds ?? '?')} s`;
    case 'dns':
      return `the host name "${String(params.host ?? '')}" does not resolve`;
    case 'unreachable':
      return `${at} is unreachable (no route to the host)`;
    case 'serial_port_missing':
      return `the serial port ${String(params.path ?? '')} does not exist (is the cable plugged in?)`;
    case 'serial_port_busy':
      return `the serial port ${String(params.path ?? '')} is in use by another program`;
    case 'protocol_error':
      return `${at} answered, but not as this kind of printer (wrong port or driver?)`;
    case 'no_reports':
      return 'connected, but the printer sends no reports';
    case 'firmware_not_ready':
      return `connected, but the firmware is not ready (${String(params.state ?? '?')})`;
    case 'disconnected':
      return 'the connection was lost; reconnecting';
    case 'agent_offline':
      return 'the edge agent that runs this printer is offline';
    case 'disabled':
      return 'the printer is disabled';
    case 'unsupported':
      return 'this kind of printer cannot be tested from here';
    default:
      return String(params.detail ?? 'the connection failed');
  }
}

/** Builds an issue with its message. */
export function issue(code: ConnectionCode, params: Record<string, unknown> = {}): ConnectionIssue {
  return { code, params, message: connectionMessage(code, params) };
}

/** The Node error codes in an error and its causes (fetch wraps the socket error in `cause`). */
function errnoCodes(err: unknown): string[] {
  const out: string[] = [];
  let e: any = err;
  for (let i = 0; e && i < 5; i++, e = e.cause) {
    if (typeof e.code === 'string') out.push(e.code);
    if (Array.isArray(e.errors)) for (const x of e.errors) if (typeof x?.code === 'string') out.push(x.code);
  }
  return out;
}

const textOf = (err: unknown): string => {
  const parts: string[] = [];
  let e: any = err;
  for (let i = 0; e && i < 5; i++, e = e.cause) parts.push(String(e.message ?? e));
  return parts.join(': ');
};

/**
 * Classifies a connect failure from its Node error code (or, for errors without one, its text).
 * `target` fills the params; the caller adds driver-specific codes (CONNACK, HTTP 401) before this.
 */
export function classifyConnectError(err: unknown, target: Target = {}, timeoutSeconds?: number): ConnectionIssue {
  const codes = errnoCodes(err);
  const text = textOf(err);
  const params: Record<string, unknown> = { where: where(target), ...target };
  const has = (...c: string[]) => codes.some((x) => c.includes(x)) || c.some((x) => text.includes(x));
  if (has('ECONNREFUSED')) return issue('refused', params);
  if (has('ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL')) return issue('dns', params);
  if (has('EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL')) return issue('unreachable', params);
  if (has('ETIMEDOUT', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT') || /timed? ?out/i.test(text)) {
    return issue('timeout', { ...params, seconds: timeoutSeconds ?? params.seconds ?? null });
  }
  if (target.path && (has('ENOENT') || /no such file|cannot open|not found/i.test(text))) return issue('serial_port_missing', params);
  if (target.path && (has('EBUSY', 'EACCES') || /busy|locked|access denied/i.test(text))) return issue('serial_port_busy', params);
  if (has('ERR_TLS_CERT_ALTNAME_INVALID') || /does not match|CN "/i.test(text)) return issue('certificate_mismatch', params);
  if (
    has('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_UNTRUSTED')
  ) {
    return issue('certificate_untrusted', params);
  }
  if (has('ECONNRESET', 'EPIPE', 'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO') || /wrong version number|unexpected server response|invalid (status|frame)|parse error/i.test(text)) {
    return issue('protocol_error', { ...params, detail: text.slice(0, 200) });
  }
  return issue('other', { ...params, detail: text.slice(0, 200) });
}

/**
 * A fallback for drivers that only give a note (plugins, agents, older code): reads the code out of
 * the English text. A driver that knows better sets `state.connectionIssue` itself.
 */
export function issueFromNote(note: string | null, status: string): ConnectionIssue | null {
  if (!note) return null;
  if (note === 'disabled') return issue('disabled');
  const out = status === 'offline' || status === 'connecting' || status === 'unknown';
  if (/access code|API key/i.test(note)) return issue('wrong_access_code', { detail: note });
  if (/certificate/i.test(note) && /refused/i.test(note)) {
    if (/does not match/i.test(note)) return issue('certificate_mismatch', { detail: note });
    if (/changed|did not have before|must confirm/i.test(note)) return issue('certificate_changed', { detail: note });
    return issue('certificate_untrusted', { detail: note });
  }
  if (!out) return null;
  if (/agent .* offline|waiting for agent/i.test(note)) return issue('agent_offline', { detail: note });
  if (/no reports|sends no reports|not sending/i.test(note)) return issue('no_reports', { detail: note });
  const c = classifyConnectError(new Error(note));
  return c.code === 'other' ? { ...c, message: note } : c;
}
