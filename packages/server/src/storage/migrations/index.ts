import type { Migration } from 'kysely';
import type { Dialect } from '../schema.ts';
import { initial } from './001_initial.ts';
import { queueSafety } from './002_queue.ts';
import { jobSentMarker } from './003_job_sent.ts';
import { securityHardening } from './004_security.ts';
import { jobHistory } from './005_job_history.ts';
import { queueCopies } from './006_queue_copies.ts';
import { alertsTable } from './007_alerts.ts';
import { vision } from './009_vision.ts';
import { pluginTables } from './010_plugins.ts';
import { agents } from './011_agents.ts';

/** Every migration, in order. One list for SQLite and PostgreSQL; append, never edit a shipped one. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '001_initial': initial(dialect),
    '002_queue': queueSafety(dialect),
    '003_job_sent': jobSentMarker(),
    '004_security': securityHardening(),
    '005_job_history': jobHistory(),
    '006_queue_copies': queueCopies(),
    '007_alerts': alertsTable(),
    '009_vision': vision(),
    '010_plugins': pluginTables(dialect),
    '011_agents': agents(),
  };
}
