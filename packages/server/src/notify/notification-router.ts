/**
 * Sends alerts to people: every `alert` event goes to each registered notifier (webhook, ntfy,
 * Telegram, e-mail…, built-in or from a plugin: the registry does not say and this does not ask)
 * whose subscription wants it, with the printer's name and, for printer errors and AI pauses, the
 * latest camera frame. A slow or failing notifier never holds the event bus or the others.
 */
import { raiseAlert, type AlertEvent } from '../alerts/raise.ts';
import type { EventBus } from '../events/bus.ts';
import type { FleetView } from '../printers/fleet-types.ts';
import type { CapabilityRegistry } from '../registry/capabilities.ts';
import type { Logger } from '../util/logger.ts';
import { wantsAlert, wantsSnapshot } from './alert-filter.ts';
import { takeSnapshot } from '../vision/snapshots.ts';

export interface NotificationRouterOptions {
  bus: EventBus;
  registry: CapabilityRegistry;
  fleet: FleetView;
  logger: Logger;
  /** A notifier's subscription (categories, codes, `*`); null = everything. */
  subscriptionOf(name: string, provider: string): readonly string[] | null;
  /** How long a camera frame may take before the alert goes without one. */
  snapshotTimeoutMs?: number;
}

export class NotificationRouter {
  #owner = {};
  #inflight = new Set<Promise<void>>();

  constructor(private readonly o: NotificationRouterOptions) {}

  start(): void {
    this.o.bus.on('alert', this.#owner, (alert) => {
      const p = this.#dispatch(alert).catch((err) => this.o.logger.error({ err }, 'alert notification failed'));
      this.#inflight.add(p);
      void p.finally(() => this.#inflight.delete(p));
    });
  }

  async stop(): Promise<void> {
    this.o.bus.removeListeners(this.#owner);
    await Promise.allSettled([...this.#inflight]);
  }

  /** Waits for notifications in flight (tests). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#inflight]);
  }

  async #snapshot(printerId: string): Promise<Buffer | null> {
    const withTimeout = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), this.o.snapshotTimeoutMs ?? 5000).unref())]);
    try {
      // Same preference as the vision part (a configured URL, plugin cameras, then the printer's own).
      if (this.o.registry.list('snapshot-source').some((s) => s.impl.covers(printerId))) {
        return (await withTimeout(takeSnapshot(this.o.registry, printerId, 'auto')))?.jpeg ?? null;
      }
      const printer = this.o.fleet.get(printerId);
      return printer ? await withTimeout(printer.driver.snapshot()) : null;
    } catch {
      return null;
    }
  }

  async #dispatch(alert: AlertEvent): Promise<void> {
    // A notifier that fails raises an alert of its own: never send that one again (no loops).
    if (alert.code === 'notification_failed') return;
    const targets = this.o.registry.list('notifier').filter((n) => wantsAlert(this.o.subscriptionOf(n.name, n.provider), alert.code));
    if (!targets.length) return;
    const printerName = alert.printerId ? (this.o.fleet.get(alert.printerId)?.summary.name ?? null) : null;
    const snapshotJpeg = alert.printerId && wantsSnapshot(alert.code) ? await this.#snapshot(alert.printerId) : null;
    const results = await Promise.allSettled(targets.map((n) => n.impl.notify({ alert, printerName, snapshotJpeg })));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const n = targets[i]!;
      const message = (r.reason as Error)?.message ?? String(r.reason);
      this.o.logger.warn({ notifier: n.name, err: message, alert: alert.code }, 'notifier failed');
      if ((r.reason as { code?: string })?.code === 'not_configured') return;
      raiseAlert(this.o.bus, {
        level: 'warning',
        code: 'notification_failed',
        message: `Notifier ${n.name} could not send "${alert.message}": ${message}`,
        params: { notifier: n.name, alertId: alert.id, alertCode: alert.code },
      });
    });
  }
}
