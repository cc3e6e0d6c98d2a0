import type { Kysely } from 'kysely';

/**
 * Queue items count the copies a person cancelled and the copies that failed (issue 16: one copy
 * cancelled, the item goes on), and keep an explicit AMS mapping (null = map automatically).
 */
export function queueCopies() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .alterTable('queue_items')
        .addColumn('copies_cancelled', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('queue_items')
        .addColumn('copies_failed', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('queue_items').addColumn('ams_mapping_json', 'text').execute();
    },
  };
}
