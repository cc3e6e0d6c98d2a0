import path from 'node:path';

/** ../shared beside the repository (as on every developer machine and in CI). */
export const SHARED_FIXTURES = path.resolve(import.meta.dirname, '../../../../../shared/fixtures');
export const BAMBU_FIXTURES = path.join(SHARED_FIXTURES, 'bambu');
export const OCTO_FIXTURES = path.join(SHARED_FIXTURES, 'octo');
