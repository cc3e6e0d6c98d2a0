/**
 * What the printers API adds to each printer's state from the queue: `state.gate`,
 * `state.cooldownUntil` and `state.job.queueItemId` (see printers/presenter.ts).
 */
import type { PrinterQueueInfo, QueueInfoProvider } from '../printers/presenter.ts';
import type { QueueService } from './queue-service.ts';

export function printerQueueInfo(queue: QueueService, printerId: string): PrinterQueueInfo {
  return {
    gate: queue.gateFor(printerId),
    cooldownUntil: queue.cooldownUntil(printerId),
    queueItemId: queue.queueItemIdFor(printerId),
    idleReason: queue.idleReasonFor(printerId),
  };
}

/** Pass to the printer routes as `queueInfo`. */
export function queueInfoProvider(queue: QueueService): QueueInfoProvider {
  return (printerId) => printerQueueInfo(queue, printerId);
}
