/**
 * The queue's in-memory mirror of the database. Every change runs through `change()`: one
 * serialised transaction, then the memory is updated and exactly one `queue.changed` is emitted.
 */
import type { Transaction } from 'kysely';
import type { EventBus } from '../events/bus.ts';
import type { Database } from '../storage/schema.ts';
import { KV_FAILED_COPY_POLICY, KV_RUNNING, QueueRepo, kvAttention, kvPlateNeedsClearing } from './queue-repo.ts';
import type { FailedCopyPolicy, JobRecord, QueueItemRecord, QueueItemStatus } from './types.ts';

/** Staged changes of one transaction, applied to memory after it commits. */
export interface ChangeSet {
  tx: Transaction<Database>;
  saveItem(item: QueueItemRecord): Promise<void>;
  deleteItems(ids: string[]): Promise<void>;
  /** Mirrors a job written through `tx` (insertJob/transitionJob) into the active set. */
  trackJob(job: JobRecord, active: boolean): void;
  setRunning(running: boolean): Promise<void>;
  setPolicy(policy: FailedCopyPolicy): Promise<void>;
  setPlateNeedsClearing(printerId: string, needs: boolean): Promise<void>;
  setAttention(printerId: string, reason: string | null): Promise<void>;
  /** Nothing changed after all: commit without a `queue.changed` event. */
  skipEvent(): void;
}

export class QueueStore {
  readonly repo: QueueRepo;
  items = new Map<string, QueueItemRecord>();
  /** Active (starting/printing) jobs by dispatch id. */
  activeJobs = new Map<string, JobRecord>();
  running = true;
  failedCopyPolicy: FailedCopyPolicy = 'fail';
  plateNeedsClearing = new Set<string>();
  attention = new Map<string, string>();
  #ordered: QueueItemRecord[] | null = null;
  /** Active jobs by printer and by item, rebuilt after the active set changes (views read it per item and printer). */
  #index: { byPrinter: Map<string, JobRecord>; byItem: Map<string, JobRecord[]> } | null = null;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(
    db: ConstructorParameters<typeof QueueRepo>[0],
    private readonly bus: EventBus,
    private readonly now: () => number,
  ) {
    this.repo = new QueueRepo(db);
  }

  async load(): Promise<void> {
    this.items = new Map((await this.repo.loadItems()).map((i) => [i.id, i]));
    this.#ordered = null;
    this.activeJobs = new Map((await this.repo.loadActiveJobs()).map((j) => [j.id, j]));
    this.#index = null;
    const running = await this.repo.getKv(KV_RUNNING);
    this.running = running === undefined ? true : running === 'true';
    const policy = await this.repo.getKv(KV_FAILED_COPY_POLICY);
    this.failedCopyPolicy = policy === 'retry' ? 'retry' : 'fail';
    this.plateNeedsClearing = new Set(
      (await this.repo.getKvPrefix(kvPlateNeedsClearing(''))).map((r) => r.key.slice(kvPlateNeedsClearing('').length)),
    );
    this.attention = new Map(
      (await this.repo.getKvPrefix(kvAttention(''))).map((r) => [r.key.slice(kvAttention('').length), r.value]),
    );
  }

  /** Items in queue order. */
  ordered(): QueueItemRecord[] {
    if (!this.#ordered) {
      this.#ordered = [...this.items.values()].sort(
        (a, b) => a.position - b.position || a.createdAt.localeCompare(b.createdAt),
      );
    }
    return this.#ordered;
  }

  #activeIndex(): { byPrinter: Map<string, JobRecord>; byItem: Map<string, JobRecord[]> } {
    if (!this.#index) {
      const byPrinter = new Map<string, JobRecord>();
      const byItem = new Map<string, JobRecord[]>();
      for (const j of this.activeJobs.values()) {
        if (!byPrinter.has(j.printerId)) byPrinter.set(j.printerId, j);
        const list = byItem.get(j.queueItemId);
        if (list) list.push(j);
        else byItem.set(j.queueItemId, [j]);
      }
      this.#index = { byPrinter, byItem };
    }
    return this.#index;
  }

  activeJobsOf(itemId: string): JobRecord[] {
    return [...(this.#activeIndex().byItem.get(itemId) ?? [])];
  }

  activeJobOn(printerId: string): JobRecord | undefined {
    return this.#activeIndex().byPrinter.get(printerId);
  }

  activeCountByItem(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const j of this.activeJobs.values()) counts.set(j.queueItemId, (counts.get(j.queueItemId) ?? 0) + 1);
    return counts;
  }

  /** Status that follows from copies and active jobs; failed/cancelled stick until a user changes the item. */
  deriveStatus(item: QueueItemRecord, activeCount: number): QueueItemStatus {
    if (item.status === 'failed' || item.status === 'cancelled') return item.status;
    if (item.copiesDone + item.copiesCancelled >= item.copies) {
      if (activeCount > 0) return 'printing';
      // Every copy cancelled one by one: the item is cancelled; some printed: done.
      return item.copiesDone === 0 ? 'cancelled' : 'done';
    }
    return activeCount > 0 ? 'printing' : 'waiting';
  }

  /** Runs one change after every earlier one (strict order, never interleaved). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** Waits for every queued change. */
  async drain(): Promise<void> {
    for (;;) {
      const chain = this.#chain;
      await chain;
      if (chain === this.#chain) return;
    }
  }

  /**
   * One transaction + one `queue.changed`. `fn` stages writes through the ChangeSet; memory is
   * updated only after the commit, so a failed transaction leaves memory untouched.
   */
  change<T>(
    reason: string,
    fn: (c: ChangeSet) => Promise<T>,
    opts: { itemId?: string; silent?: boolean } = {},
  ): Promise<T> {
    return this.serial(async () => {
      const memory: (() => void)[] = [];
      let emit = !opts.silent;
      const result = await this.repo.transaction(async (tx) => {
        const c: ChangeSet = {
          tx,
          saveItem: async (item) => {
            if (this.items.has(item.id)) await this.repo.saveItem(tx, item);
            else await this.repo.insertItem(tx, item);
            memory.push(() => {
              this.items.set(item.id, item);
              this.#ordered = null;
            });
          },
          deleteItems: async (ids) => {
            await this.repo.deleteItems(tx, ids);
            memory.push(() => {
              for (const id of ids) this.items.delete(id);
              this.#ordered = null;
            });
          },
          trackJob: (job, active) => {
            memory.push(() => {
              if (active) this.activeJobs.set(job.id, job);
              else this.activeJobs.delete(job.id);
              this.#index = null;
            });
          },
          setRunning: async (running) => {
            await this.repo.setKv(tx, KV_RUNNING, String(running));
            memory.push(() => {
              this.running = running;
            });
          },
          setPolicy: async (policy) => {
            await this.repo.setKv(tx, KV_FAILED_COPY_POLICY, policy);
            memory.push(() => {
              this.failedCopyPolicy = policy;
            });
          },
          setPlateNeedsClearing: async (printerId, needs) => {
            await this.repo.setKv(
              tx,
              kvPlateNeedsClearing(printerId),
              needs ? new Date(this.now()).toISOString() : null,
            );
            memory.push(() => {
              if (needs) this.plateNeedsClearing.add(printerId);
              else this.plateNeedsClearing.delete(printerId);
            });
          },
          setAttention: async (printerId, reason) => {
            await this.repo.setKv(tx, kvAttention(printerId), reason);
            memory.push(() => {
              if (reason) this.attention.set(printerId, reason);
              else this.attention.delete(printerId);
            });
          },
          skipEvent: () => {
            emit = false;
          },
        };
        return fn(c);
      });
      for (const apply of memory) apply();
      if (emit) this.bus.emit('queue.changed', { reason, ...(opts.itemId ? { itemId: opts.itemId } : {}) });
      return result;
    });
  }
}
