import { reactive, ref, toRaw } from 'vue';
import { tokens } from '../api/auth-tokens.ts';
import { api, refreshTokens } from '../api/http.ts';
import type { FileRecord, LiveEvent, Printer, PrinterState, QueueView } from '../api/types.ts';
import { toEpochMs } from '../util/time.ts';
import { noteNewAlert, setUnread } from './alerts.ts';
import { mergePatch } from '../util/merge-patch.ts';

/**
 * The dashboard's live picture of the farm: loaded over REST, then kept current by /api/v1/ws.
 * Events carry only what changed, so queue/file events trigger a (debounced) REST reload.
 */

export interface TempSample {
  t: number;
  nozzle: number | null;
  nozzleTarget: number | null;
  bed: number | null;
  bedTarget: number | null;
}

export interface AlertEntry {
  id: number;
  level: 'info' | 'warning' | 'error';
  printerId: string | null;
  message: string;
  /** The server's stable code and params, so the popup speaks the viewer's language. */
  code?: string | null;
  params?: Record<string, unknown> | null;
  at: string;
}

export const live = reactive({
  printers: [] as Printer[],
  queue: { running: false, items: [], remainingSeconds: 0, finishAt: null } as QueueView,
  files: [] as FileRecord[],
  /** Temperature history per printer for the chart (at most one sample a second; about an hour kept). */
  temps: {} as Record<string, TempSample[]>,
  /** Alerts seen in this browser session, newest first. */
  alerts: [] as AlertEntry[],
  loaded: false,
});

export const socketConnected = ref(false);

const MAX_SAMPLES = 1800;
type AlertListener = (alert: AlertEntry) => void;
const alertListeners = new Set<AlertListener>();
export function onAlert(listener: AlertListener): () => void {
  alertListeners.add(listener);
  return () => alertListeners.delete(listener);
}

let alertSeq = 0;
/** Recently shown alert keys, so a printer error reported both as a state change and as an alert pops up once. */
const recentAlerts = new Map<string, number>();

export function raiseAlert(entry: Omit<AlertEntry, 'id'>): void {
  const now = Date.now();
  const key = `${entry.printerId ?? ''}|${entry.level}`;
  for (const [k, t] of recentAlerts) if (now - t > 10_000) recentAlerts.delete(k);
  const full: AlertEntry = { ...entry, id: ++alertSeq };
  live.alerts.unshift(full);
  if (live.alerts.length > 200) live.alerts.length = 200;
  const last = recentAlerts.get(`${key}|${entry.message}`);
  if (last !== undefined && now - last < 10_000) return;
  recentAlerts.set(`${key}|${entry.message}`, now);
  recentAlerts.set(key, now);
  for (const l of alertListeners) l(full);
}

function recordTemps(printerId: string, state: PrinterState): void {
  const nozzle = state.temperatures?.nozzle;
  const bed = state.temperatures?.bed;
  if (!nozzle && !bed) return;
  const list = (live.temps[printerId] ??= []);
  const t = Date.now();
  const sample: TempSample = {
    t,
    nozzle: nozzle?.actual ?? null,
    nozzleTarget: nozzle?.target ?? null,
    bed: bed?.actual ?? null,
    bedTarget: bed?.target ?? null,
  };
  const last = list[list.length - 1];
  if (last && t - last.t < 1000) list[list.length - 1] = sample;
  else list.push(sample);
  if (list.length > MAX_SAMPLES) list.splice(0, list.length - MAX_SAMPLES);
}

function errorText(state: PrinterState): string {
  return state.error ? `${state.error.message}${state.error.code ? ` (${state.error.code})` : ''}` : '';
}

function applyPrinterState(printerId: string, state: PrinterState, whole = false): void {
  const printer = live.printers.find((p) => p.id === printerId);
  if (!printer) {
    void loadPrinters();
    return;
  }
  const before = printer.state?.status;
  printer.state = whole ? state : { ...printer.state, ...state };
  recordTemps(printerId, printer.state);
  if (state.status === 'error' && before !== 'error') {
    // Give a matching `alert` event a moment to arrive first; raiseAlert de-duplicates.
    setTimeout(() => {
      const key = `${printerId}|error`;
      const seen = recentAlerts.get(key);
      if (seen !== undefined && Date.now() - seen < 10_000) return;
      raiseAlert({ level: 'error', printerId, message: `${printer.name}: ${errorText(printer.state)}`, at: new Date().toISOString() });
    }, 1500);
  }
}

/** Server-side temperature history (last hours) merged in front of what this tab recorded, once per printer. */
const historyLoaded = new Set<string>();
export async function loadTempHistory(printerId: string): Promise<void> {
  if (historyLoaded.has(printerId)) return;
  type Point = { at: string; nozzle?: { actual: number; target: number }; bed?: { actual: number; target: number } };
  const res = await api<{ points: Point[] }>(`/printers/${printerId}/temperatures`);
  historyLoaded.add(printerId);
  const mine = live.temps[printerId] ?? [];
  const firstOwn = mine[0]?.t ?? Number.POSITIVE_INFINITY;
  const older: TempSample[] = res.points
    .map((p) => ({
      t: Date.parse(p.at),
      nozzle: p.nozzle?.actual ?? null,
      nozzleTarget: p.nozzle?.target ?? null,
      bed: p.bed?.actual ?? null,
      bedTarget: p.bed?.target ?? null,
    }))
    .filter((s) => Number.isFinite(s.t) && s.t < firstOwn);
  live.temps[printerId] = [...older, ...mine].slice(-MAX_SAMPLES * 2);
}

export async function loadPrinters(): Promise<void> {
  const list = await api<Printer[]>('/printers');
  live.printers = list;
  for (const p of list) recordTemps(p.id, p.state);
}

export async function loadQueue(): Promise<void> {
  live.queue = await api<QueueView>('/queue');
}

let filesLoaded = false;
let snapshotSeen = false;

export async function loadFiles(): Promise<void> {
  live.files = await api<FileRecord[]>('/files');
  filesLoaded = true;
  live.loaded = snapshotSeen;
}

export async function loadAll(): Promise<void> {
  await Promise.all([loadPrinters(), loadQueue(), loadFiles()]);
  live.loaded = true;
}

const debounced = new Map<string, ReturnType<typeof setTimeout>>();
function reloadSoon(what: 'queue' | 'files' | 'printers'): void {
  if (debounced.has(what)) return;
  debounced.set(
    what,
    setTimeout(() => {
      debounced.delete(what);
      const load = what === 'queue' ? loadQueue : what === 'files' ? loadFiles : loadPrinters;
      load().catch(() => {});
    }, 150),
  );
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

type LiveListener = (event: LiveEvent) => void;
const liveListeners = new Set<LiveListener>();
/** Every realtime event, for pages that follow their own kinds (the plugins page: plugin.*). */
export function onLiveEvent(listener: LiveListener): () => void {
  liveListeners.add(listener);
  return () => liveListeners.delete(listener);
}

export function handleEvent(event: LiveEvent): void {
  for (const l of liveListeners) l(event);
  const data = event.data ?? {};
  switch (event.type) {
    case 'snapshot': {
      // The snapshot carries printers and queue, so the page never fetches them separately.
      const printers = data.printers as Printer[] | undefined;
      if (Array.isArray(printers)) {
        live.printers = printers;
        for (const p of printers) recordTemps(p.id, p.state);
      } else reloadSoon('printers');
      const queue = data.queue as QueueView | undefined;
      if (queue && Array.isArray(queue.items)) live.queue = queue;
      else reloadSoon('queue');
      snapshotSeen = true;
      live.loaded = filesLoaded;
      break;
    }
    case 'printer.state': {
      const id = str(data.printerId) ?? str(data.id);
      const state = (data.state ?? data) as PrinterState;
      if (id) applyPrinterState(id, state);
      // A finished/started print changes the queue's estimates.
      break;
    }
    case 'printers.patch': {
      // Delta mode: one RFC 7386 merge patch per printer whose presented state changed.
      for (const [id, patch] of Object.entries(data)) {
        const printer = live.printers.find((p) => p.id === id);
        if (!printer) {
          reloadSoon('printers');
          continue;
        }
        applyPrinterState(id, mergePatch(structuredClone(toRaw(printer.state)), patch) as PrinterState, true);
      }
      break;
    }
    case 'alerts.changed':
      if (typeof data.unacknowledged === 'number') setUnread(data.unacknowledged);
      break;
    case 'printer.added':
    case 'printer.updated':
    case 'printer.removed':
      reloadSoon('printers');
      break;
    case 'queue.changed':
    case 'job.started':
    case 'job.finished':
    case 'job.failed':
      reloadSoon('queue');
      break;
    case 'file.added':
    case 'file.removed':
      reloadSoon('files');
      break;
    case 'alert': {
      const level = (str(data.level) ?? 'warning') as AlertEntry['level'];
      noteNewAlert(data.id !== undefined && data.id !== null);
      raiseAlert({
        level,
        printerId: str(data.printerId),
        message: str(data.message) ?? '',
        code: str(data.code),
        params: (data.params as Record<string, unknown> | undefined) ?? null,
        at: event.at,
      });
      reloadSoon('queue');
      break;
    }
  }
}

let socket: WebSocket | null = null;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let retryDelay = 1000;
let wanted = false;
let everOpened = false;

function wsUrl(): string {
  const url = new URL('api/v1/ws', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.hash = '';
  url.searchParams.set('token', tokens.value?.accessToken ?? '');
  // Delta mode: printer changes arrive as one merge patch a second instead of whole states.
  url.searchParams.set('delta', '1');
  return url.toString();
}

/** Opens the realtime connection; reconnects with backoff and rotates the token when the server refuses it. */
export function connectLive(): void {
  wanted = true;
  if (socket) return;
  const ws = new WebSocket(wsUrl());
  socket = ws;
  let opened = false;
  const reconnect = everOpened;
  ws.onopen = () => {
    opened = true;
    everOpened = true;
    socketConnected.value = true;
    retryDelay = 1000;
    // The snapshot brings printers and queue; after a drop, files may have changed meanwhile too.
    if (reconnect) loadFiles().catch(() => {});
  };
  ws.onmessage = (msg) => {
    try {
      handleEvent(JSON.parse(String(msg.data)) as LiveEvent);
    } catch {
      // ignore a malformed frame
    }
  };
  ws.onclose = () => {
    socket = null;
    socketConnected.value = false;
    if (!wanted) return;
    const retry = async () => {
      // A refused upgrade usually means an expired access token.
      if (!opened) await refreshTokens();
      if (wanted && tokens.value) connectLive();
    };
    retryTimer = setTimeout(() => void retry(), retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15_000);
  };
}

export function disconnectLive(): void {
  wanted = false;
  everOpened = false;
  snapshotSeen = false;
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  socket?.close();
  socket = null;
  socketConnected.value = false;
}

// Printers only report changes, so a steady temperature would leave gaps in the chart:
// sample every printer's latest temperatures on a fixed beat as well.
setInterval(() => {
  for (const p of live.printers) recordTemps(p.id, p.state);
}, 2000);

/** A reactive "now" ticking every second, for countdowns and "finishes at" text. */
export const now = ref(Date.now());
setInterval(() => {
  now.value = Date.now();
}, 1000);

export function cooldownLeft(state: PrinterState, nowMs: number): number {
  const until = toEpochMs(state.cooldownUntil);
  return until === null ? 0 : Math.max(0, Math.ceil((until - nowMs) / 1000));
}
