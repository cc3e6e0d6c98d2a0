import type { AlertEvent } from '../alerts/raise.ts';
import type { PrinterState, PrinterSummary } from '../printers/model.ts';

/** Every domain event and its payload. The WebSocket hub forwards these as `{type, data, at}`. */
export interface DomainEvents {
  'printer.state': { printerId: string; state: PrinterState };
  'printer.added': { printer: PrinterSummary };
  'printer.updated': { printer: PrinterSummary };
  'printer.removed': { printerId: string };
  /** Free-form driver happenings worth a log line: connected, reconnecting, upload progress, ... */
  'printer.log': { printerId: string; kind: string; message: string; detail?: Record<string, unknown> };
  'queue.changed': { reason: string; itemId?: string };
  'job.started': { printerId: string; queueItemId: string; jobId: string; fileName: string };
  'job.finished': { printerId: string; queueItemId: string; jobId: string; fileName: string };
  'job.failed': { printerId: string; queueItemId: string; jobId: string; fileName: string; reason: string };
  alert: AlertEvent;
  /** The unacknowledged alert count changed (an alert raised or acknowledged): tabs update their badge. */
  'alerts.changed': { unacknowledged: number; acknowledged: string[] };
  /** One AI check of a printer's camera finished (vision/): the analysis as the API shows it. */
  'ai.analysis': { printerId: string; analysis: Record<string, unknown> };
  /** A printer's AI settings changed (vision/): other server processes apply them at once. */
  'ai.settings': { printerId: string; settings: Record<string, unknown> };
  'file.added': { fileId: string; name: string };
  'file.removed': { fileId: string };
  /**
   * Credentials stopped being valid (user deleted, role or password changed, API key revoked, logout):
   * every open socket authenticated by them closes at once. Either field names what was revoked.
   */
  'auth.revoked': { userId?: string; apiKeyId?: string; reason: string };
  /** A plugin changed state (plugins/): running, starting, stopped, crashed, disabled, failed. */
  'plugin.state': { pluginId: string; state: string; reason: string | null };
  /** A plugin run was created, started, moved or ended (throttled while it moves). */
  'plugin.run': { run: Record<string, unknown> & { id: string; pluginId: string; status: string } };
  /** A plugin pushed a message for people (ctx.pushMessage). */
  'plugin.message': { pluginId: string; message: Record<string, unknown> };
  /** The queue ran out of work: its last waiting or printing item ended. */
  'queue.finished': { done: number; failed: number; cancelled: number };
}

export type EventType = keyof DomainEvents;
/**
 * `origin` is set only on an event another server process emitted (scale-out fan-out, cluster/):
 * the id of that process. Local events have none.
 */
export type DomainEvent<K extends EventType = EventType> = { type: K; data: DomainEvents[K]; at: string; origin?: string };

/**
 * Which events a listener receives. Default `local`: parts that act on an event (the event log,
 * notifications, the queue's job follow-up) must act once in the cluster, in the process where it
 * happened. `all` (the WebSocket hub) and `remote` (mirrors of other processes' state) opt in.
 */
export type ListenScope = 'local' | 'remote' | 'all';
type Listener<K extends EventType> = (data: DomainEvents[K], event: DomainEvent<K>) => void;
type AnyListener = (event: DomainEvent) => void;

/**
 * Typed in-process event bus. Listeners are registered under an owner key, so a part's stop()
 * removes all of its listeners at once. A throwing listener is logged, never breaks the emitter.
 */
export class EventBus {
  #listeners = new Map<EventType, Map<Listener<any>, { owner: object; scope: ListenScope }>>();
  #any = new Map<AnyListener, { owner: object; scope: ListenScope }>();
  #onListenerError: (err: unknown, type: EventType) => void;
  #now: () => number;

  constructor(opts: { now?: () => number; onListenerError?: (err: unknown, type: EventType) => void } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#onListenerError = opts.onListenerError ?? ((err) => console.error('event listener failed', err));
  }

  on<K extends EventType>(type: K, owner: object, listener: Listener<K>, scope: ListenScope = 'local'): void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Map()));
    set.set(listener, { owner, scope });
  }

  /** Receives every event (the WebSocket hub, the event log). */
  onAny(owner: object, listener: AnyListener, scope: ListenScope = 'local'): void {
    this.#any.set(listener, { owner, scope });
  }

  removeListeners(owner: object): void {
    for (const set of this.#listeners.values()) for (const [l, o] of set) if (o.owner === owner) set.delete(l);
    for (const [l, o] of this.#any) if (o.owner === owner) this.#any.delete(l);
  }

  emit<K extends EventType>(type: K, data: DomainEvents[K]): DomainEvent<K> {
    const event: DomainEvent<K> = { type, data, at: new Date(this.#now()).toISOString() };
    this.#deliver(event, false);
    return event;
  }

  /**
   * Delivers an event another process emitted (it carries `origin`) to the listeners that asked for
   * remote events; it is never published again, so nothing echoes round the cluster.
   */
  inject(event: DomainEvent & { origin: string }): void {
    this.#deliver(event, true);
  }

  #deliver<K extends EventType>(event: DomainEvent<K>, remote: boolean): void {
    const wants = (scope: ListenScope) => scope === 'all' || scope === (remote ? 'remote' : 'local');
    const set = this.#listeners.get(event.type);
    if (set) {
      for (const [l, o] of [...set]) {
        if (!wants(o.scope)) continue;
        try {
          l(event.data, event);
        } catch (err) {
          this.#onListenerError(err, event.type);
        }
      }
    }
    for (const [l, o] of [...this.#any]) {
      if (!wants(o.scope)) continue;
      try {
        l(event as DomainEvent);
      } catch (err) {
        this.#onListenerError(err, event.type);
      }
    }
  }
}
