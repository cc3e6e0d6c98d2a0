/**
 * Per-plugin numbers for the API and the UI: calls, errors, latency percentiles over the last
 * calls, restarts, events delivered or dropped. Memory and CPU come from the process (pidusage).
 */

const WINDOW = 1000;

export interface MetricsView {
  calls: number;
  errors: number;
  timeouts: number;
  /** Over the last 1000 calls, milliseconds. */
  latencyMs: { p50: number | null; p99: number | null };
  restarts: number;
  eventsDelivered: number;
  eventsDropped: number;
  memoryBytes: number | null;
  cpuPercent: number | null;
}

/** The value at quantile q (0–1) of sorted numbers, nearest-rank. */
export function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export class PluginMetrics {
  calls = 0;
  errors = 0;
  timeouts = 0;
  restarts = 0;
  eventsDelivered = 0;
  eventsDropped = 0;
  #latencies: number[] = [];
  #next = 0;

  recordCall(ms: number, outcome: 'ok' | 'error' | 'timeout'): void {
    this.calls++;
    if (outcome !== 'ok') this.errors++;
    if (outcome === 'timeout') this.timeouts++;
    if (this.#latencies.length < WINDOW) this.#latencies.push(ms);
    else {
      this.#latencies[this.#next] = ms;
      this.#next = (this.#next + 1) % WINDOW;
    }
  }

  view(process: { rssBytes: number; cpuPercent: number } | null): MetricsView {
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
    return {
      calls: this.calls,
      errors: this.errors,
      timeouts: this.timeouts,
      latencyMs: { p50: round(quantile(sorted, 0.5)), p99: round(quantile(sorted, 0.99)) },
      restarts: this.restarts,
      eventsDelivered: this.eventsDelivered,
      eventsDropped: this.eventsDropped,
      memoryBytes: process && process.rssBytes > 0 ? process.rssBytes : null,
      cpuPercent: process ? Math.round(process.cpuPercent * 10) / 10 : null,
    };
  }
}
