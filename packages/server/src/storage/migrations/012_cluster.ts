import type { Kysely } from 'kysely';

/**
 * Scale-out (cluster/): the process registry, the printer leases (one owner per printer) and the
 * side table for fan-out batches larger than a PostgreSQL NOTIFY payload. Created on SQLite too
 * (one schema for both), where a single process never writes leases.
 */
export function cluster() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('cluster_processes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('printer_leases')
        .addColumn('printer_id', 'text', (c) => c.primaryKey())
        .addColumn('process_id', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('printer_leases_process').on('printer_leases').column('process_id').execute();
      await db.schema
        .createTable('cluster_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}
