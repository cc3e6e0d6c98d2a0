/**
 * What an emergency stop does on each printer kind. Marlin and Klipper (Moonraker) have a real one:
 * M112 (the Marlin driver writes it past the send queue; Klipper handles it at once). Bambu printers
 * have none over the LAN protocol: the strongest stop there is cancelling the print.
 */
import type { PrinterDriver } from '@rwc/server/printers/driver.ts';
import type { PrinterState } from '@rwc/server/printers/model.ts';

export async function emergencyStop(kind: string, driver: PrinterDriver, state: PrinterState): Promise<string> {
  if (/marlin|moonraker/.test(kind)) {
    await driver.sendGcode(['M112']);
    return 'M112 sent';
  }
  if (!['printing', 'paused', 'preparing'].includes(state.status)) return `nothing to stop (${state.status})`;
  await driver.cancel();
  return 'print cancelled (no emergency stop over the Bambu LAN protocol)';
}
