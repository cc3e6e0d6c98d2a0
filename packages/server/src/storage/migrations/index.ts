import type { Migration } from 'kysely';
import type { Dialect } from '../schema.ts';
import { initial } from './001_initial.ts';
import { queueSafety } from './002_queue.ts';
import { jobSentMarker } from './003_job_sent.ts';
import { agents } from './011_agents.ts';

/** Every migration, in order. One list for SQLite and PostgreSQL; append, never edit a shipped one. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '001_initial': initial(dialect),
    '002_queue': queueSafety(dialect),
    '003_job_sent': jobSentMarker(),
    '011_agents': agents(),
  };
}
