import { describe, expect, it } from 'vitest';
import { startBambuFleet, stopBambuFleet } from '../../src/bambu/index.ts';
import { connectReports, isFull } from './helpers.ts';

describe('Bambu simulator fleet', () => {
  it('starts 20 printers in one process, each reachable over its own TLS MQTT, and stops them all', async () => {
    const fleet = await startBambuFleet({ count: 20, timeScale: 100 });
    try {
      expect(new Set(fleet.map((s) => s.serial)).size).toBe(20);
      const ports = fleet.flatMap((s) => [s.ports.mqtt, s.ports.ftps, s.ports.camera]);
      expect(new Set(ports).size).toBe(60);
      expect(ports.every((p) => p > 0)).toBe(true);
      // All leaves chain to the one process-wide CA.
      expect(new Set(fleet.map((s) => s.caCertPem)).size).toBe(1);

      const clients = await Promise.all(fleet.map((s) => connectReports(s)));
      await Promise.all(clients.map((c) => c.request({ pushing: { sequence_id: '1', command: 'pushall' } })));
      const fulls = await Promise.all(clients.map((c) => c.waitFor(isFull, 10_000, 'full report')));
      expect(fulls.every((m) => m.print.gcode_state === 'IDLE')).toBe(true);
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await stopBambuFleet(fleet);
    }
    // After stop nothing listens any more.
    const { tryConnect, connectOptions } = await import('./helpers.ts');
    const r = await tryConnect({ ...connectOptions(fleet[0]), connectTimeout: 2000 });
    expect(r.error).not.toBeNull();
    expect(fleet[0].files()).toEqual([]);
  });

  it('derives distinct serials from a fixed serial prefix', async () => {
    const fleet = await startBambuFleet({ count: 2, serial: 'SIMA1X', accessCode: '12345678' });
    try {
      expect(fleet.map((s) => s.serial)).toEqual(['SIMA1X000', 'SIMA1X001']);
      expect(fleet.every((s) => s.accessCode === '12345678')).toBe(true);
    } finally {
      await stopBambuFleet(fleet);
    }
  });

  it('loopback-range puts printer i on 127.0.0.(2+i) (ports overridable, here OS-picked)', async () => {
    const fleet = await startBambuFleet({
      count: 2,
      addressMode: 'loopback-range',
      mqttPort: 0,
      ftpsPort: 0,
      cameraPort: 0,
    });
    try {
      expect(fleet.map((s) => s.host)).toEqual(['127.0.0.2', '127.0.0.3']);
      const rc = await connectReports(fleet[1]);
      await rc.request({ pushing: { sequence_id: '1', command: 'pushall' } });
      expect((await rc.waitFor(isFull, 5000)).print.gcode_state).toBe('IDLE');
      await rc.close();
    } finally {
      await stopBambuFleet(fleet);
    }
  });
});
