import { type Kysely, sql } from 'kysely';

/**
 * Print history (issue 16): a job row keeps what it printed and how it ended even after its queue
 * item is removed or its printer deleted (file, plate and names copied in at dispatch), who
 * cancelled it, how long it printed (stored, so totals are one SUM on SQLite and PostgreSQL), the filament it used, and whether it was put back into the queue. Existing rows get
 * their file and plate from their queue item when it still exists.
 */
export function jobHistory() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      for (const [name, type] of [
        ['file_id', 'text'],
        ['file_name', 'text'],
        ['plate', 'integer'],
        ['printer_name', 'text'],
        ['cancelled_by', 'text'],
        ['filament_grams', 'real'],
        ['duration_seconds', 'integer'],
        ['retried_at', 'text'],
      ] as const) {
        await db.schema.alterTable('jobs').addColumn(name, type).execute();
      }
      await sql`UPDATE jobs SET file_id = (SELECT q.file_id FROM queue_items q WHERE q.id = jobs.queue_item_id),
        plate = (SELECT q.plate FROM queue_items q WHERE q.id = jobs.queue_item_id)`.execute(db);
      await db.schema.createIndex('jobs_ended_at_idx').on('jobs').columns(['ended_at', 'id']).execute();
      await db.schema.createIndex('jobs_printer_ended_idx').on('jobs').columns(['printer_id', 'ended_at']).execute();
    },
  };
}
