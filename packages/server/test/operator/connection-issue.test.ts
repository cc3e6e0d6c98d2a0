/** Pure decisions behind the connection codes, the test verdict and the one-alert-per-outage rule. */
import { describe, expect, it } from 'vitest';
import { classifyConnectError, issue, issueFromNote } from '../../src/printers/connection-issue.ts';
import { judgeConnectionTest } from '../../src/printers/connection-test.ts';
import { initialPrinterState } from '../../src/printers/model.ts';
import { outageStep } from '../../src/printers/unreachable-watch.ts';

const errno = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('connection codes', () => {
  it('classifies socket errors, also when fetch wraps them in `cause`', () => {
    expect(classifyConnectError(errno('ECONNREFUSED'), { host: 'h', port: 1 })).toMatchObject({ code: 'refused', params: { where: 'h:1' } });
    expect(classifyConnectError(new TypeError('fetch failed', { cause: errno('ENOTFOUND') }), { host: 'printer.lan' })).toMatchObject({
      code: 'dns',
      params: { host: 'printer.lan' },
    });
    expect(classifyConnectError(errno('EHOSTUNREACH')).code).toBe('unreachable');
    expect(classifyConnectError(errno('ETIMEDOUT'), {}, 5)).toMatchObject({ code: 'timeout', params: { seconds: 5 } });
    expect(classifyConnectError(new Error('Error: No such file or directory, cannot open /dev/ttyUSB9'), { path: '/dev/ttyUSB9' }).code).toBe('serial_port_missing');
    expect(classifyConnectError(errno('EBUSY'), { path: '/dev/ttyUSB0' }).code).toBe('serial_port_busy');
    expect(classifyConnectError(errno('SELF_SIGNED_CERT_IN_CHAIN')).code).toBe('certificate_untrusted');
    expect(classifyConnectError(errno('ECONNRESET')).code).toBe('protocol_error');
    expect(classifyConnectError(new Error('weird')).code).toBe('other');
  });

  it('reads a code out of a driver note when the driver gives none', () => {
    expect(issueFromNote('Moonraker refused the API key', 'offline')?.code).toBe('wrong_access_code');
    expect(issueFromNote('waiting for agent "a" to connect', 'offline')?.code).toBe('agent_offline');
    expect(issueFromNote('cannot open tcp://1.2.3.4:9: connect ECONNREFUSED 1.2.3.4:9', 'offline')?.code).toBe('refused');
    expect(issueFromNote(null, 'offline')).toBeNull();
    // A note on a working printer is not an issue (e.g. "trusted on first use").
    expect(issueFromNote('certificate trusted on first use', 'idle')).toBeNull();
  });

  it('a test ends at a final refusal or a full report; at the deadline it says why it waited', () => {
    const s = initialPrinterState();
    expect(judgeConnectionTest({ ...s, status: 'connecting' }, false, 8)).toBeNull();
    expect(judgeConnectionTest({ ...s, connectionIssue: issue('wrong_access_code') }, false, 8)?.code).toBe('wrong_access_code');
    expect(judgeConnectionTest({ ...s, status: 'idle', fullStatus: true }, false, 8)?.code).toBe('ok');
    expect(judgeConnectionTest({ ...s, status: 'unknown' }, true, 8)?.code).toBe('no_reports');
    expect(judgeConnectionTest({ ...s, status: 'connecting', connectionIssue: issue('disconnected') }, true, 8)).toMatchObject({ code: 'timeout', params: { seconds: 8 } });
  });

  it('an outage opens when the link goes down and ends only when the printer is really back', () => {
    expect(outageStep(false, 'offline')).toBe('start');
    expect(outageStep(true, 'connecting')).toBe('continue');
    expect(outageStep(true, 'unknown')).toBe('continue');
    expect(outageStep(true, 'idle')).toBe('end');
    expect(outageStep(false, 'printing')).toBe('none');
    expect(outageStep(false, 'unknown')).toBe('none');
  });
});
