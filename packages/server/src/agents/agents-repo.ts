import type { AgentCommandsTable, AgentsTable, Db } from '../storage/schema.ts';
import type { AgentPrinterInfo } from './protocol.ts';

/** What the server keeps about one agent. */
export interface AgentRecord {
  id: string;
  name: string;
  createdAt: string;
  revokedAt: string | null;
  lastSeenAt: string | null;
  info: { hostname?: string; agentVersion?: string; printers?: AgentPrinterInfo[] };
  journalId: string | null;
  lastSeq: number;
}

export type CommandStatus = 'pending' | 'sent' | 'accepted' | 'done' | 'failed' | 'expired';

const toRecord = (r: AgentsTable): AgentRecord => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastSeenAt: r.last_seen_at,
  info: safeJson(r.info_json),
  journalId: r.journal_id,
  lastSeq: Number(r.last_seq),
});

function safeJson(s: string): AgentRecord['info'] {
  try {
    const v = JSON.parse(s);
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

/** The agents and agent_commands tables (same queries on SQLite and PostgreSQL). */
export class AgentsRepo {
  constructor(private readonly db: Db) {}

  async list(): Promise<AgentRecord[]> {
    const rows = await this.db.selectFrom('agents').selectAll().orderBy('created_at').execute();
    return rows.map(toRecord);
  }

  async insert(row: AgentsTable): Promise<void> {
    await this.db.insertInto('agents').values(row).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('agents').where('id', '=', id).execute();
  }

  async markRevoked(id: string, at: string): Promise<void> {
    await this.db.updateTable('agents').set({ revoked_at: at }).where('id', '=', id).execute();
  }

  async saveHello(id: string, fields: { lastSeenAt: string; info: AgentRecord['info']; journalId: string; lastSeq: number }): Promise<void> {
    await this.db
      .updateTable('agents')
      .set({ last_seen_at: fields.lastSeenAt, info_json: JSON.stringify(fields.info), journal_id: fields.journalId, last_seq: fields.lastSeq })
      .where('id', '=', id)
      .execute();
  }

  async saveProgress(id: string, lastSeq: number, lastSeenAt: string): Promise<void> {
    await this.db.updateTable('agents').set({ last_seq: lastSeq, last_seen_at: lastSeenAt }).where('id', '=', id).execute();
  }

  async insertCommand(row: AgentCommandsTable): Promise<void> {
    await this.db.insertInto('agent_commands').values(row).execute();
  }

  async updateCommand(id: string, patch: Partial<AgentCommandsTable> & { status: CommandStatus }): Promise<void> {
    await this.db.updateTable('agent_commands').set(patch).where('id', '=', id).execute();
  }

  /** Commands a previous run left open: never delivered again (the queue reconciles from printer state). */
  async expireOpenCommands(at: string): Promise<number> {
    const res = await this.db
      .updateTable('agent_commands')
      .set({ status: 'expired', ended_at: at, error_code: 'server_restarted', error_message: 'the server restarted before the command ended' })
      .where('status', 'in', ['pending', 'sent', 'accepted'])
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** True when a start job sent (or being sent) to this agent names this file: the agent may download it. */
  async agentMayFetch(agentId: string, sha256: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('agent_commands')
      .select('id')
      .where('agent_id', '=', agentId)
      .where('file_sha256', '=', sha256)
      .where('status', 'in', ['pending', 'sent', 'accepted', 'done'])
      .executeTakeFirst();
    return !!row;
  }

  async storedPathOf(sha256: string): Promise<{ path: string; size: number } | null> {
    const row = await this.db.selectFrom('files').select(['stored_path', 'size']).where('sha256', '=', sha256).executeTakeFirst();
    return row ? { path: row.stored_path, size: Number(row.size) } : null;
  }
}
