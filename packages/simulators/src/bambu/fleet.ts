/**
 * Many simulated printers in one process. `ports` (default): every printer on `host`
 * (127.0.0.1) with OS-picked ports. `loopback-range`: printer i on 127.0.0.(2+i) with the real
 * standard ports 8883 (MQTT), 990 (FTPS), 6000 (camera), so a driver can use default ports.
 * Binding ports below 1024 (990) needs root or CAP_NET_BIND_SERVICE; Linux routes all of
 * 127.0.0.0/8 to loopback, macOS needs `ifconfig lo0 alias 127.0.0.N` per address.
 */
import { type BambuSimOptions, BambuSimulator } from './simulator.ts';

export type BambuFleetOptions = BambuSimOptions & { count: number; addressMode?: 'ports' | 'loopback-range' };

export async function startBambuFleet(opts: BambuFleetOptions): Promise<BambuSimulator[]> {
  const { count, addressMode = 'ports', serial, accessCode, ...shared } = opts;
  if (count > 250 && addressMode === 'loopback-range') throw new Error('loopback-range supports at most 250 printers');
  const sims: BambuSimulator[] = [];
  for (let i = 0; i < count; i++) {
    const perPrinter: BambuSimOptions = { ...shared };
    // A fixed serial/access code only makes sense for one printer; with more, derive distinct ones.
    if (serial) perPrinter.serial = count === 1 ? serial : `${serial}${String(i).padStart(3, '0')}`;
    if (accessCode) perPrinter.accessCode = accessCode;
    if (addressMode === 'loopback-range') {
      perPrinter.host = `127.0.0.${2 + i}`;
      perPrinter.mqttPort = shared.mqttPort ?? 8883;
      perPrinter.ftpsPort = shared.ftpsPort ?? 990;
      perPrinter.cameraPort = shared.cameraPort ?? 6000;
    }
    sims.push(new BambuSimulator(perPrinter));
  }
  const results = await Promise.allSettled(sims.map((s) => s.start()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(sims.map((s) => s.stop()));
    throw failed.reason;
  }
  return sims;
}

export async function stopBambuFleet(sims: BambuSimulator[]): Promise<void> {
  await Promise.all(sims.map((s) => s.stop()));
}
