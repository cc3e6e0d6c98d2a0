import type { Kysely } from 'kysely';

/**
 * Alerts (alerts/): things a person must act on, kept apart from the event log so they can be
 * acknowledged and counted. The index serves "unacknowledged, newest first" and the paging by `at`.
 */
export function alertsTable() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('alerts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('code', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('params_json', 'text', (c) => c.notNull())
        .addColumn('printer_id', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('acknowledged_at', 'text')
        .addColumn('acknowledged_by', 'text')
        .execute();
      await db.schema.createIndex('alerts_seq_idx').on('alerts').column('seq').execute();
      await db.schema.createIndex('alerts_open_idx').on('alerts').columns(['acknowledged_at', 'seq']).execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('alerts').execute();
    },
  };
}
