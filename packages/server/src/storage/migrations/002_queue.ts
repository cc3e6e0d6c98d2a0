import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../schema.ts';

/**
 * Queue safety in the database itself: a job id sent to a printer is never reused, and a printer
 * has at most one queue job starting or printing, so one dispatch can never send two starts.
 * Partial unique indexes work on SQLite (>= 3.8) and PostgreSQL alike.
 */
export function queueSafety(_dialect: Dialect) {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.createIndex('jobs_job_id_unique').on('jobs').column('job_id').unique().execute();
      await sql`CREATE UNIQUE INDEX jobs_one_active_per_printer ON jobs (printer_id) WHERE status IN ('starting', 'printing')`.execute(
        db,
      );
      await db.schema.createIndex('queue_items_position_idx').on('queue_items').column('position').execute();
    },
  };
}
