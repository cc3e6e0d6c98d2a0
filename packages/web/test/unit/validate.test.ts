import { describe, expect, it } from 'vitest';
import { initialLocale } from '../../src/util/locale.ts';
import {
  isAccessCode,
  isBambuSerial,
  isHost,
  isHttpUrl,
  isSerialPath,
  isTcpUrl,
  type PrinterFormValue,
  printerRequestBody,
} from '../../src/util/validate.ts';

const base: PrinterFormValue = {
  name: ' P1S-01 ',
  driver: 'bambu',
  model: 'P1S',
  host: '192.168.1.50',
  serial: '01P00A123456789',
  accessCode: '12345678',
  insecureTls: false,
  mqttPort: null,
  ftpsPort: null,
  marlinMode: 'serial',
  path: '/dev/ttyUSB0',
  baudRate: 250000,
  tcpUrl: 'tcp://127.0.0.1:7000',
  url: 'http://klipper.local:7125',
  apiKey: '',
};

describe('add-printer form checks', () => {
  it('accepts hosts and IPs, rejects junk', () => {
    expect(isHost('192.168.1.50')).toBe(true);
    expect(isHost('printer-1.lan')).toBe(true);
    expect(isHost('fe80::1')).toBe(true);
    expect(isHost('300.1.1.1')).toBe(false);
    expect(isHost('bad host')).toBe(false);
    expect(isHost('')).toBe(false);
  });

  it('checks Bambu serial and access code', () => {
    expect(isBambuSerial('01S00A123456789')).toBe(true);
    expect(isBambuSerial('short')).toBe(false);
    expect(isBambuSerial('01S00A-12345')).toBe(false);
    expect(isAccessCode('12345678')).toBe(true);
    expect(isAccessCode('1234567')).toBe(false);
    expect(isAccessCode('123456789')).toBe(false);
  });

  it('checks Marlin paths, TCP bridges and Moonraker URLs', () => {
    expect(isSerialPath('/dev/ttyACM0')).toBe(true);
    expect(isSerialPath('COM3')).toBe(true);
    expect(isSerialPath('ttyUSB0')).toBe(false);
    expect(isTcpUrl('tcp://127.0.0.1:7000')).toBe(true);
    expect(isTcpUrl('tcp://bridge.lan:23')).toBe(true);
    expect(isTcpUrl('tcp://127.0.0.1')).toBe(false);
    expect(isTcpUrl('tcp://127.0.0.1:70000')).toBe(false);
    expect(isTcpUrl('http://127.0.0.1:7000')).toBe(false);
    expect(isHttpUrl('http://klipper.local:7125')).toBe(true);
    expect(isHttpUrl('ws://10.0.0.2/websocket')).toBe(true);
    expect(isHttpUrl('klipper.local')).toBe(false);
    expect(isHttpUrl('ftp://x')).toBe(false);
  });

  it('sends only the chosen driver connection fields', () => {
    expect(printerRequestBody(base)).toEqual({
      name: 'P1S-01',
      driver: 'bambu',
      model: 'P1S',
      connection: { host: '192.168.1.50', serial: '01P00A123456789', accessCode: '12345678' },
    });
    expect(printerRequestBody({ ...base, insecureTls: true }).connection).toMatchObject({ insecureTls: true });
    expect(printerRequestBody({ ...base, driver: 'marlin', model: '' }).connection).toEqual({ path: '/dev/ttyUSB0', baudRate: 250000 });
    expect(printerRequestBody({ ...base, driver: 'marlin', marlinMode: 'tcp' }).connection).toEqual({ url: 'tcp://127.0.0.1:7000' });
    expect(printerRequestBody({ ...base, driver: 'moonraker', apiKey: ' k1 ' }).connection).toEqual({ url: 'http://klipper.local:7125', apiKey: 'k1' });
    expect(printerRequestBody({ ...base, driver: 'simulated-marlin' }).connection).toEqual({});
  });
});

describe('initial language', () => {
  it('prefers the remembered choice, then the browser languages, then English', () => {
    expect(initialLocale('en', ['zh-CN'])).toBe('en');
    expect(initialLocale(null, ['zh-TW', 'en'])).toBe('zh-CN');
    expect(initialLocale(null, ['de-DE', 'en-GB'])).toBe('en');
    expect(initialLocale('fr', ['fr-FR'])).toBe('en');
  });
});
