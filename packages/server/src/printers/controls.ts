import type { PrinterDriver } from './driver.ts';

/** Which printer-page controls a printer offers (the UI shows only these). */
export interface PrinterControls {
  light: boolean;
  fan: boolean;
  gcode: boolean;
}

/**
 * Read off the driver: a driver offers a control by having the method. A disabled or not yet
 * started printer has none; the page shows them once it runs.
 */
export function controlsOf(_driverKind: string, driver: PrinterDriver): PrinterControls {
  return { light: typeof driver.setLight === 'function', fan: typeof driver.setFan === 'function', gcode: typeof driver.console === 'function' };
}
