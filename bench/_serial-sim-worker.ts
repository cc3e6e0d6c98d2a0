/**
 * Runs the Marlin simulator on its own thread for bench/serial.ts, so the "printer" keeps its own
 * event loop the way a real board does and host-side work cannot slow the simulated wire.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MarlinSimulator, type MarlinSimulatorOptions } from '@rwc/simulators/marlin/index.ts';

const sim = new MarlinSimulator(workerData as MarlinSimulatorOptions);
await sim.start();
parentPort!.postMessage({ type: 'ready', url: sim.url });
parentPort!.on('message', async (msg: { type: string; ratio?: number }) => {
  if (msg.type === 'stats') parentPort!.postMessage({ type: 'stats', stats: sim.firmware?.stats ?? null });
  if (msg.type === 'moves') {
    // The moves the firmware executed, in order (the bench checks every line ran exactly once).
    parentPort!.postMessage({ type: 'moves', moves: sim.commandLog.filter((c) => c.startsWith('G1 ')) });
  }
  if (msg.type === 'noise') {
    // Line noise applies to the firmware of the current connection (each connection is a power-cycle).
    sim.setLineNoise(msg.ratio ?? 0);
    parentPort!.postMessage({ type: 'noise' });
  }
  if (msg.type === 'stop') {
    await sim.stop();
    parentPort!.postMessage({ type: 'stopped' });
  }
});
