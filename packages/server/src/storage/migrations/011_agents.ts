import type { Kysely } from 'kysely';

/**
 * Edge agents (agents/): one row per agent (its id is its API key's id) with what the server has
 * applied of its event journal, and the command outbox (commands with a dispatch id and a TTL).
 */
export function agents() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('agents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('last_seen_at', 'text')
        .addColumn('info_json', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('journal_id', 'text')
        .addColumn('last_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('agent_commands')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('agent_id', 'text', (c) => c.notNull())
        .addColumn('printer_id', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('args_json', 'text', (c) => c.notNull())
        .addColumn('file_sha256', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('sent_at', 'text')
        .addColumn('accepted_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .execute();
      await db.schema.createIndex('agent_commands_agent_status').on('agent_commands').columns(['agent_id', 'status']).execute();
      await db.schema.createIndex('agent_commands_agent_file').on('agent_commands').columns(['agent_id', 'file_sha256']).execute();
    },
  };
}
