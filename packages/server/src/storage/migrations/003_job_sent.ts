import type { Kysely } from 'kysely';

/**
 * `jobs.sent_at`: set right before the start command goes to the printer. A job still `starting`
 * without it after a crash was provably never sent (e.g. the server died mid-upload), so its copy
 * can go back to the queue instead of waiting for a user.
 */
export function jobSentMarker() {
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema.alterTable('jobs').addColumn('sent_at', 'text').execute();
    },
  };
}
