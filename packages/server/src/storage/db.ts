import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { migrations } from './migrations/index.ts';
import type { Logger } from '../util/logger.ts';
import type { Database, Db, Dialect } from './schema.ts';

// PostgreSQL returns int8 as strings; our sizes fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

export interface Storage {
  db: Db;
  dialect: Dialect;
  close(): Promise<void>;
}

export async function openStorage(opts: {
  dataDir: string;
  databaseUrl?: string | null;
  logger?: Pick<Logger, 'warn'>;
}): Promise<Storage> {
  let db: Db;
  let dialect: Dialect;
  if (opts.databaseUrl) {
    dialect = 'postgres';
    // connectionTimeoutMillis: an unreachable database fails a request (503) instead of hanging it.
    const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: 10, connectionTimeoutMillis: 5000 });
    tagConnectionFailures(pool);
    // An idle pooled connection that the database drops (restart, failover, admin kill) emits an
    // error on the pool; unhandled, that would take the whole server down. The pool replaces it.
    pool.on('error', (err) => opts.logger?.warn({ err: err.message }, 'PostgreSQL connection lost; the pool reconnects on next use'));
    // Fail fast with a clear message instead of on the first query.
    const client = await pool.connect().catch((err: Error) => {
      void pool.end();
      throw new Error(`cannot connect to PostgreSQL at RWC_DATABASE_URL: ${err.message}`);
    });
    client.release();
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    dialect = 'sqlite';
    fs.mkdirSync(opts.dataDir, { recursive: true });
    const file = new SQLite(path.join(opts.dataDir, 'rwc.sqlite'));
    file.pragma('journal_mode = WAL');
    // FULL: a committed queue change survives a power cut, not just a process crash.
    file.pragma('synchronous = FULL');
    file.pragma('foreign_keys = ON');
    file.pragma('busy_timeout = 5000');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: file }) });
  }
  await migrate(db, dialect);
  return { db, dialect, close: () => db.destroy() };
}

/**
 * Marks errors that mean "the database cannot be reached" (refused or dropped connections, a
 * connect timeout) with `databaseUnavailable`, so the HTTP layer answers 503 instead of 500. The
 * pool drops broken clients and connects again on the next query: recovery needs nothing else.
 */
function tagConnectionFailures(pool: pg.Pool): void {
  const tag = (err: unknown) => {
    if (err && typeof err === 'object' && typeof (err as { severity?: unknown }).severity !== 'string') {
      Object.assign(err, { databaseUnavailable: true });
    }
    return err;
  };
  const wrapped = new WeakSet<pg.PoolClient>();
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  (pool as { connect: unknown }).connect = (...args: unknown[]) => {
    // Callback-style use (pool.query) keeps the original path.
    if (args.length) return (connect as unknown as (...a: unknown[]) => unknown)(...args);
    return connect().then(
      (client) => {
        if (!wrapped.has(client)) {
          wrapped.add(client);
          const query = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
          (client as { query: unknown }).query = (...a: unknown[]) => {
            const r = query(...a);
            return r && typeof (r as Promise<unknown>).catch === 'function' ? (r as Promise<unknown>).catch((e) => Promise.reject(tag(e))) : r;
          };
        }
        return client;
      },
      (err) => Promise.reject(tag(err)),
    );
  };
}

export async function migrate(db: Db, dialect: Dialect): Promise<void> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const { error, results } = await new Migrator({
    db,
    provider,
    // Numbers are reserved per part (005–008 landed after 009–011 existed): a data dir that already
    // ran 011 still gets 007 and friends.
    allowUnorderedMigrations: true,
  }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message}`);
  }
}
