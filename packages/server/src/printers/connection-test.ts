import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Infra } from '../app-context.ts';
import { EventBus } from '../events/bus.ts';
import { type ConnectionCode, type ConnectionIssue, issue } from './connection-issue.ts';
import type { PrinterDriver, PrinterDriverCapability } from './driver.ts';
import { type PrinterState, type ReportedIdentity, defaultPrinterSettings } from './model.ts';

/** The answer of POST /printers/test-connection (docs/operator-api-printers.md). */
export interface ConnectionTestResult extends ConnectionIssue {
  ok: boolean;
  elapsedMs: number;
  reported: ReportedIdentity | null;
}

/** Codes after which waiting longer cannot help: the test answers at once. */
const FINAL: ReadonlySet<ConnectionCode> = new Set([
  'wrong_access_code',
  'certificate_mismatch',
  'certificate_untrusted',
  'certificate_changed',
  'tls_error',
  'dns',
  'refused',
  'unreachable',
  'serial_port_missing',
  'serial_port_busy',
  'protocol_error',
]);

const LINK_DOWN = new Set(['offline', 'connecting']);

/**
 * Decides, from the states a throwaway driver went through, whether the test is over and how it
 * ended. Pure: `timedOut` says the deadline passed.
 */
export function judgeConnectionTest(state: PrinterState, timedOut: boolean, timeoutSeconds: number): ConnectionIssue | null {
  const found = state.connectionIssue ?? null;
  if (found && FINAL.has(found.code)) return found;
  // Connected with a full report: that is the printer we want. The reported identity comes with it.
  if (!LINK_DOWN.has(state.status) && state.status !== 'unknown' && state.fullStatus) return issue('ok', {});
  if (!timedOut) return null;
  if (found && found.code === 'no_reports') return found;
  // The link came up but no report in time: a Bambu answering for another serial behaves so.
  if (state.status === 'unknown') return issue('no_reports', {});
  if (found && found.code !== 'disconnected') return found;
  return issue('timeout', { seconds: timeoutSeconds });
}

/**
 * Connects to a printer with a driver of its kind, but outside the fleet: its own event bus (no
 * logs, alerts or state events reach the farm), a scratch data folder (a first-use certificate pin
 * is not kept), and a deadline. Resolves with the outcome; never throws for a connection failure.
 * For a stored printer `dataDirToCopy` brings its certificate pins, so a changed certificate shows.
 */
export async function testConnection(
  infra: Infra,
  cap: PrinterDriverCapability,
  input: { driver: string; model: string | null; connection: Record<string, unknown>; timeoutSeconds: number; dataDirToCopy?: string },
): Promise<ConnectionTestResult> {
  const started = Date.now();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-conntest-'));
  if (input.dataDirToCopy && fs.existsSync(input.dataDirToCopy)) {
    fs.cpSync(input.dataDirToCopy, scratch, { recursive: true, filter: (src) => !/uploads?|\.part$/.test(path.basename(src)) });
  }
  const bus = new EventBus({ onListenerError: () => {} });
  let driver: PrinterDriver | null = null;
  let latest: PrinterState | null = null;
  let finished = false;
  let resolveOutcome: (r: ConnectionIssue) => void = () => {};
  const outcome = new Promise<ConnectionIssue>((resolve) => (resolveOutcome = resolve));
  const settle = (r: ConnectionIssue) => {
    if (finished) return;
    finished = true;
    resolveOutcome(r);
  };
  const check = (timedOut: boolean) => {
    if (!latest) return;
    const verdict = judgeConnectionTest(latest, timedOut, input.timeoutSeconds);
    if (verdict) settle(verdict);
  };
  const timer = setTimeout(() => {
    latest ??= driver?.getState() ?? null;
    if (latest) check(true);
    settle(issue('timeout', { seconds: input.timeoutSeconds }));
  }, input.timeoutSeconds * 1000);
  try {
    try {
      driver = cap.create({
        printerId: `connection-test-${crypto.randomUUID()}`,
        printerName: 'connection test',
        model: input.model,
        connection: input.connection,
        settings: { ...defaultPrinterSettings },
        staleAfterSeconds: infra.config.staleAfterSeconds,
        clock: infra.clock,
        logger: infra.logger.child({ part: 'connection-test' }),
        bus,
        dataDir: scratch,
        onState: (s) => {
          latest = s;
          check(false);
        },
      });
      await driver.start();
    } catch (err) {
      settle(issue('other', { detail: (err as Error).message }));
    }
    const verdict = await outcome;
    const state = latest as PrinterState | null;
    const reported = verdict.code === 'ok' && state ? await waitForIdentity(driver!, state.reported) : null;
    return { ok: verdict.code === 'ok', ...verdict, elapsedMs: Date.now() - started, reported };
  } finally {
    clearTimeout(timer);
    await driver?.stop().catch(() => {});
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** The identity often follows the first report by a moment (Bambu get_version): wait up to 1.5 s for it. */
async function waitForIdentity(driver: PrinterDriver, first: ReportedIdentity): Promise<ReportedIdentity> {
  let cur = first;
  for (let i = 0; i < 15 && (cur.model === null || cur.nozzleDiameter === null); i++) {
    await new Promise((r) => setTimeout(r, 100));
    cur = driver.getState().reported ?? cur;
  }
  return { model: cur.model, nozzleDiameter: cur.nozzleDiameter, firmware: cur.firmware ?? null };
}
