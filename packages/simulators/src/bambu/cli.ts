/**
 * Runs simulated Bambu printers until Ctrl-C:
 *   npx tsx packages/simulators/src/bambu/cli.ts --count 3 --time-scale 60
 * Options: --count N, --time-scale X, --model A1|"A1 mini"|P1P|P1S|X1C, --print-seconds S,
 * --report-interval-ms MS, --address-mode ports|loopback-range (127.0.0.2+ on 8883/990/6000;
 * needs root for port 990), --serial PREFIX, --access-code CODE, --host IP, --ca-out FILE, --json.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BambuModel } from './identity.ts';
import { startBambuFleet, stopBambuFleet } from './fleet.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1' },
    'time-scale': { type: 'string', default: '1' },
    model: { type: 'string', default: 'A1' },
    'print-seconds': { type: 'string' },
    'report-interval-ms': { type: 'string' },
    'address-mode': { type: 'string', default: 'ports' },
    serial: { type: 'string' },
    'access-code': { type: 'string' },
    host: { type: 'string' },
    'ca-out': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
const addressMode = values['address-mode'] === 'loopback-range' ? 'loopback-range' : 'ports';

const fleet = await startBambuFleet({
  count: Number(values.count),
  timeScale: num(values['time-scale']),
  model: values.model as BambuModel,
  printSeconds: num(values['print-seconds']),
  reportIntervalMs: num(values['report-interval-ms']),
  addressMode,
  serial: values.serial,
  accessCode: values['access-code'],
  host: values.host,
});

const caPath = values['ca-out'] ?? join(tmpdir(), 'rwc-bambu-sim-ca.pem');
writeFileSync(caPath, fleet[0]?.caCertPem ?? '');

const rows = fleet.map((s) => ({
  host: s.host,
  mqtt: s.ports.mqtt,
  ftps: s.ports.ftps,
  camera: s.ports.camera,
  serial: s.serial,
  accessCode: s.accessCode,
  model: s.model,
}));
if (values.json) {
  console.log(JSON.stringify({ caPath, printers: rows }));
} else {
  console.log(`Bambu simulator: ${fleet.length} printer(s), time scale ×${values['time-scale']}, CA: ${caPath}`);
  console.table(rows);
  console.log('Connect with servername = serial and the CA above. Ctrl-C to stop.');
}

for (const s of fleet) {
  s.on('state', (e: { state: string; previous: string }) => {
    if (!values.json) console.log(`${new Date().toISOString()} ${s.serial} ${e.previous} → ${e.state}`);
  });
}

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await stopBambuFleet(fleet);
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
