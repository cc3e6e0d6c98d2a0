/**
 * Where frames come from: `snapshot-source@1` capabilities in the registry. Two are built in:
 * - `printer`: the printer's own camera through its driver (Bambu A1/P1 JPEG stream on :6000,
 *   the webcam a Moonraker printer announces); covers every printer, answers null without one;
 * - `url`: the per-printer camera URL from the AI settings (HTTP snapshot or MJPEG stream: IP
 *   cameras, OctoPrint/mjpg-streamer, go2rtc in front of an X1's RTSPS).
 * A plugin registers more under its own name. `auto` picks url → plugin sources that cover the
 * printer → printer.
 */
import { DomainError, notFound } from '../errors.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import type { CapabilityRegistry, SnapshotSourceCapability } from '../registry/capabilities.ts';
import type { Clock } from '../util/clock.ts';
import { fetchImage } from '../util/http-image.ts';

export const PRINTER_SOURCE = 'printer';
export const URL_SOURCE = 'url';

export function printerCameraSource(fleet: FleetView, clock: Clock): SnapshotSourceCapability {
  return {
    covers: (printerId) => !!fleet.get(printerId),
    async snapshot(printerId) {
      const p = fleet.get(printerId);
      if (!p) return null;
      const jpeg = await p.driver.snapshot();
      return jpeg ? { jpeg, at: new Date(clock.now()).toISOString() } : null;
    },
  };
}

export function urlCameraSource(
  cameraUrl: (printerId: string) => string | null,
  clock: Clock,
  maxBytes: number,
): SnapshotSourceCapability {
  return {
    covers: (printerId) => !!cameraUrl(printerId),
    async snapshot(printerId, opts) {
      const url = cameraUrl(printerId);
      if (!url) return null;
      const jpeg = await fetchImage(url, { timeoutMs: 8000, maxBytes, signal: opts?.signal });
      return { jpeg, at: new Date(clock.now()).toISOString() };
    },
  };
}

/**
 * Takes one picture of a printer. `source` is 'auto' or a source name (the seed's `camera_id`).
 * Throws 404 `no_camera` when nothing gives a picture, 404 `unknown_camera` for a name nobody
 * registered, 409 `camera_failed` when the camera did not answer.
 */
export async function takeSnapshot(
  registry: CapabilityRegistry,
  printerId: string,
  source: string,
  signal?: AbortSignal,
): Promise<{ jpeg: Buffer; at: string; source: string }> {
  const names =
    source === 'auto'
      ? [
          URL_SOURCE,
          ...registry
            .list('snapshot-source')
            .map((e) => e.name)
            .filter((n) => n !== URL_SOURCE && n !== PRINTER_SOURCE),
          PRINTER_SOURCE,
        ]
      : [source];
  if (source !== 'auto' && !registry.get('snapshot-source', source)) {
    const known = registry.list('snapshot-source').map((e) => e.name);
    throw notFound(`camera "${source}" (known: ${known.join(', ')})`, 'unknown_camera');
  }
  let lastError: Error | null = null;
  for (const name of names) {
    const src = registry.get('snapshot-source', name);
    if (!src?.covers(printerId)) continue;
    try {
      const shot = await src.snapshot(printerId, { signal });
      if (shot) return { ...shot, source: name };
    } catch (err) {
      lastError = err as Error;
    }
  }
  if (lastError) throw new DomainError('conflict', 'camera_failed', `no picture from the camera: ${lastError.message}`);
  throw notFound('a camera for this printer', 'no_camera');
}
