import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/events/bus.ts';
import { ValidationError } from '../../src/errors.ts';
import { bambuDriverCapability, registerBambu, simulatedBambuCapability } from '../../src/printers/bambu/index.ts';
import { defaultPrinterSettings, type PrinterState } from '../../src/printers/model.ts';
import { CapabilityRegistry } from '../../src/registry/capabilities.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { waitFor } from './helpers.ts';

describe('bambu capabilities', () => {
  it('validateConnection names the field and fills the default ports', () => {
    const v = bambuDriverCapability.validateConnection;
    expect(() => v({ host: '10.0.0.5', accessCode: '12345678' })).toThrow(ValidationError);
    expect(() => v({ host: '10.0.0.5', accessCode: '12345678' })).toThrow('connection.serial: required');
    expect(() => v({ serial: '03919C4', accessCode: '1' })).toThrow('connection.host: required');
    expect(() => v({ host: 'h', serial: '03919C4' })).toThrow('connection.accessCode: required');
    expect(() => v({ host: 'h', serial: '039', accessCode: '1', mqttPort: 70000 })).toThrow('connection.mqttPort');
    expect(() => v({ host: 'h', serial: '039', accessCode: '1', insecureTls: 'yes' })).toThrow(
      'connection.insecureTls',
    );
    expect(v({ host: '10.0.0.5', serial: '03919C4', accessCode: '12345678' })).toEqual({
      host: '10.0.0.5',
      serial: '03919C4',
      accessCode: '12345678',
      mqttPort: 8883,
      ftpsPort: 990,
      cameraPort: 6000,
      insecureTls: false,
      caCertPem: null,
    });
    expect(bambuDriverCapability.secretFields).toEqual(['accessCode']);
    expect(() => simulatedBambuCapability.validateConnection({ model: 'Z9' })).toThrow('connection.model');
  });

  it('registerBambu registers bambu and simulated-bambu as printer drivers', () => {
    const registry = new CapabilityRegistry();
    registerBambu(registry);
    expect(registry.get('printer-driver', 'bambu')).toBe(bambuDriverCapability);
    expect(registry.get('printer-driver', 'simulated-bambu')).toBe(simulatedBambuCapability);
  });

  it('simulated-bambu runs the real driver against an in-process simulator over TLS', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rwc-simbambu-'));
    const states: PrinterState[] = [];
    const driver = simulatedBambuCapability.create({
      printerId: 'sim1',
      printerName: 'Sim A1 mini',
      model: 'A1 mini',
      connection: simulatedBambuCapability.validateConnection({ timeScale: 5 }),
      settings: defaultPrinterSettings,
      clock: systemClock,
      logger: silentLogger(),
      bus: new EventBus(),
      dataDir,
      onState: (s) => states.push(s),
    });
    try {
      await driver.start();
      await waitFor(() => driver.getState().status === 'idle', 'idle');
      expect(driver.getState().fullStatus).toBe(true);
      const jpeg = await driver.snapshot();
      expect(jpeg?.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    } finally {
      await driver.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
    expect(states.at(-1)?.status).toBe('offline');
  });
});
