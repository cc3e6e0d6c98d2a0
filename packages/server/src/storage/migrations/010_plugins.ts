import type { Kysely } from 'kysely';
import type { Dialect } from '../schema.ts';

/**
 * Plugin host tables: installed plugins (enabled flag, sealed config), their key-value store, the
 * bus records seed 004 keeps queryable (messages, events, lifecycle) and runs.
 */
export function pluginTables(dialect: Dialect) {
  const serial = (c: any) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('plugins')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('config_json', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('dir', 'text', (c) => c.notNull())
        .addColumn('disabled_reason', 'text')
        .addColumn('installed_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('plugin_store')
        .addColumn('plugin_id', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value_json', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('plugin_store_pk', ['plugin_id', 'key'])
        .execute();
      await db.schema
        .createTable('plugin_records')
        .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', serial)
        .addColumn('plugin_id', 'text', (c) => c.notNull())
        .addColumn('topic', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('data_json', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('plugin_records_plugin_idx').on('plugin_records').columns(['plugin_id', 'topic', 'id']).execute();
      await db.schema.createIndex('plugin_records_topic_idx').on('plugin_records').columns(['topic', 'id']).execute();
      await db.schema
        .createTable('plugin_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('plugin_id', 'text', (c) => c.notNull())
        .addColumn('entry', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('progress', 'real')
        .addColumn('stage', 'text')
        .addColumn('message', 'text')
        .addColumn('metrics_json', 'text', (c) => c.notNull())
        .addColumn('exports_json', 'text', (c) => c.notNull())
        .addColumn('result_json', 'text')
        .addColumn('error_json', 'text')
        .addColumn('parent_run_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('ended_at', 'text')
        .execute();
      await db.schema.createIndex('plugin_runs_plugin_idx').on('plugin_runs').columns(['plugin_id', 'created_at']).execute();
    },
  };
}
