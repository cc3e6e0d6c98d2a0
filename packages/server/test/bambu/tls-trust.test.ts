import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BambuDriver } from '../../src/printers/bambu/driver.ts';
import { bundledBambuCas } from '../../src/printers/bambu/tls.ts';
import type { PrinterState } from '../../src/printers/model.ts';
import { type Rig, startRig, waitFor, waitForStatus } from './helpers.ts';

// Real TLS against the simulator, whose CA is NOT given to the driver (no caCertPem): the printer
// looks like odd firmware with a certificate that is not from Bambu Lab's CA.
const fast = { timing: { reconnectBaseMs: 100, reconnectMaxMs: 300 } };

describe('bambu TLS: trust on first use for certificates outside the Bambu CA', () => {
  let rig: Rig | null = null;
  afterEach(async () => {
    await rig?.close();
    rig = null;
  });

  it('pins a self-signed root presented by the printer, connects, and keeps the pin for the next start', async () => {
    rig = await startRig({ sim: { presentCaChain: true }, connection: { caCertPem: undefined }, driver: fast });
    const idle = await waitForStatus(rig, 'idle');
    expect(idle.fullStatus).toBe(true);
    expect(idle.connectionNote).toMatch(/trusted on first use \(SHA-256 [0-9a-f]{16}/);
    const pin = JSON.parse(fs.readFileSync(path.join(rig.dataDir, 'tls-pin.json'), 'utf8'));
    expect(pin).toMatchObject({ serial: rig.sim.serial, host: rig.sim.host });
    expect(pin.pem.replace(/\s/g, '')).toBe(rig.sim.caCertPem.replace(/\s/g, ''));
    expect(rig.logs.filter((l) => l.kind === 'tls.pinned')).toHaveLength(1);

    // A new driver on the same data dir trusts the pinned certificate straight away.
    await rig.driver.stop();
    const states: PrinterState[] = [];
    const again = new BambuDriver({ ...rig.ctx, onState: (s) => states.push(s) }, fast);
    await again.start();
    try {
      await waitFor(() => states.find((s) => s.status === 'idle' && s.fullStatus), 'idle with the pinned certificate');
      expect(rig.logs.filter((l) => l.kind === 'tls.pinned')).toHaveLength(1);
    } finally {
      await again.stop();
    }
  });

  it('refuses a certificate that changed since it was pinned', async () => {
    rig = await startRig({ sim: { presentCaChain: true }, connection: { caCertPem: undefined }, driver: fast, start: false });
    // A pin from "before": some other self-signed root (the Bambu CA stands in for it).
    fs.writeFileSync(
      path.join(rig.dataDir, 'tls-pin.json'),
      JSON.stringify({ serial: rig.sim.serial, host: rig.sim.host, pem: bundledBambuCas()[0], fingerprint256: 'x', pinnedAt: '2026-01-01T00:00:00.000Z' }),
    );
    const states: PrinterState[] = [];
    const driver = new BambuDriver({ ...rig.ctx, onState: (s) => states.push(s) }, fast);
    await driver.start();
    try {
      const refused = await waitFor(() => states.find((s) => /changed since it was first trusted/.test(s.connectionNote ?? '')), 'refusal');
      expect(refused.status).not.toBe('idle');
      expect(refused.error?.code).toBe('tls_certificate');
      expect(states.some((s) => s.fullStatus)).toBe(false);
    } finally {
      await driver.stop();
    }
  });

  it('refuses a CA-signed certificate it cannot pin, saying what to do', async () => {
    rig = await startRig({ connection: { caCertPem: undefined }, driver: fast });
    const refused = await waitFor(() => rig!.states.find((s) => /caCertPem or turn on insecureTls/.test(s.connectionNote ?? '')), 'refusal');
    expect(refused.fullStatus).toBe(false);
    expect(fs.existsSync(path.join(rig.dataDir, 'tls-pin.json'))).toBe(false);
  });

  it('never pins a certificate whose CN is not the serial', async () => {
    rig = await startRig({
      sim: { presentCaChain: true },
      connection: { caCertPem: undefined, serial: 'WRONGSERIAL0001' },
      driver: fast,
    });
    const refused = await waitFor(() => rig!.states.find((s) => /does not match the configured serial/.test(s.connectionNote ?? '')), 'refusal');
    expect(refused.fullStatus).toBe(false);
    expect(fs.existsSync(path.join(rig.dataDir, 'tls-pin.json'))).toBe(false);
  });
});
