/**
 * Runs the Marlin simulator on its own thread for bench/serial.ts, so the "printer" keeps its own
 * event loop the way a real board does and host-side work cannot slow the simulated wire.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MarlinSimulator, type MarlinSimulatorOptions } from '@rwc/simulators/marlin/index.ts';

const sim = new MarlinSimulator(workerData as MarlinSimulatorOptions);
await sim.start();
parentPort!.postMessage({ type: 'ready', url: sim.url });
parentPort!.on('message', async (msg: { type: string }) => {
  if (msg.type === 'stats') parentPort!.postMessage({ type: 'stats', stats: sim.firmware?.stats ?? null });
  if (msg.type === 'stop') {
    await sim.stop();
    parentPort!.postMessage({ type: 'stopped' });
  }
});
