// Child process for `npm run bench -- fleet`: the simulated printers, apart from the server and the
// measuring client so neither's event loop skews the other's figures.
import { type BambuSimulator, startBambuFleet } from '../packages/simulators/src/bambu/index.ts';

const n = Number(process.env.BENCH_PRINTERS ?? 100);
const offset = Number(process.env.BENCH_OFFSET ?? 0);
const sims: BambuSimulator[] = [];
for (let i = 0; i < n; i += 100) {
  const serial = `BENCH${offset + i}`;
  sims.push(...(await startBambuFleet({ count: Math.min(100, n - i), reportIntervalMs: 1000, serial })));
}
const now = () => performance.timeOrigin + performance.now();
process.send?.({
  type: 'ready',
  printers: sims.map((s) => ({
    serial: s.serial,
    accessCode: s.accessCode,
    host: s.host,
    model: s.model,
    ports: s.ports,
    caCertPem: s.caCertPem,
  })),
});
process.on('message', (m: any) => {
  if (m.type === 'printing') {
    for (const s of sims) s.setState({ gcode_state: 'RUNNING', mc_percent: 1, mc_remaining_time: 90 } as any);
  } else if (m.type === 'probe') {
    // A bed target the simulator would never pick by itself marks this report.
    const sentAt = now();
    sims[m.index]!.setState({ bed_target_temper: m.value } as any);
    process.send?.({ type: 'probe', index: m.index, value: m.value, sentAt });
  } else if (m.type === 'silent') {
    // Reports stop: what each printer last reported is then final, and a tab can be checked against it.
    for (const s of sims) s.setSilent(true);
    process.send?.({ type: 'silent' });
  } else if (m.type === 'dump') {
    process.send?.({
      type: 'dump',
      printers: sims.map((s) => ({ serial: s.serial, bedTarget: (s.status as any).bed_target_temper, percent: (s.status as any).mc_percent })),
    });
  } else if (m.type === 'stop') {
    Promise.all(sims.map((s) => s.stop())).finally(() => process.exit(0));
  }
});
