import type { Migration } from 'kysely';
import type { Dialect } from '../schema.ts';
import { initial } from './001_initial.ts';

/** Every migration, in order. One list for SQLite and PostgreSQL; append, never edit a shipped one. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '001_initial': initial(dialect),
  };
}
