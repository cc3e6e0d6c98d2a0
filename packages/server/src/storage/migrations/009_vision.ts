import type { Kysely } from 'kysely';

/**
 * AI monitoring (vision/): per-printer settings and rule state, stored frames, analyses (the
 * history), asynchronous detector tasks with their hashed callback credentials, and configured
 * detectors. No foreign keys to printers: a removed printer's rows are deleted by the vision part,
 * and its kept frames may outlive it in the history.
 */
export function vision() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('vision_printers')
        .addColumn('printer_id', 'text', (c) => c.primaryKey())
        .addColumn('settings_json', 'text', (c) => c.notNull())
        .addColumn('state_json', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('vision_frames')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('printer_id', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('width', 'integer')
        .addColumn('height', 'integer')
        .addColumn('kept', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('vision_frames_at_idx').on('vision_frames').columns(['kept', 'at']).execute();
      await db.schema
        .createTable('vision_analyses')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('printer_id', 'text')
        .addColumn('job_id', 'text')
        .addColumn('print_key', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('trigger', 'text', (c) => c.notNull())
        .addColumn('detector', 'text', (c) => c.notNull())
        .addColumn('model', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('frame_id', 'text')
        .addColumn('width', 'integer')
        .addColumn('height', 'integer')
        .addColumn('detections_json', 'text', (c) => c.notNull())
        .addColumn('score', 'double precision')
        .addColumn('adjusted', 'double precision')
        .addColumn('verdict', 'text')
        .addColumn('reason', 'text')
        .execute();
      await db.schema
        .createIndex('vision_analyses_printer_idx')
        .on('vision_analyses')
        .columns(['printer_id', 'at'])
        .execute();
      await db.schema.createIndex('vision_analyses_at_idx').on('vision_analyses').column('at').execute();
      await db.schema
        .createTable('vision_tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('detector', 'text', (c) => c.notNull())
        .addColumn('printer_id', 'text')
        .addColumn('frame_id', 'text')
        .addColumn('token_hash', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('result_json', 'text')
        .execute();
      await db.schema
        .createTable('vision_detectors')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('config_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
