import type { Kysely } from 'kysely';

/**
 * Security (issue 15):
 * - `users.token_version`: every access token carries the version it was issued under; deleting a
 *   user or changing their password bumps it, so their older tokens stop working on the next request.
 * - kv `auth.setupDone`: set once the first admin exists; setup never reopens, even with no users.
 *   A database that already has users is marked done here.
 */
export function securityHardening() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('users').addColumn('token_version', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.createIndex('api_keys_created_by_idx').on('api_keys').column('created_by').execute();
      const any = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
      if (any) {
        await db.insertInto('kv').values({ key: 'auth.setupDone', value: new Date().toISOString() }).execute();
      }
    },
  };
}
