/** The plugin host's tables on PostgreSQL: config with secrets, store, runs, records, retention. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { type PluginServer, startPluginServer } from './helpers.ts';

describe('plugins on PostgreSQL', () => {
  let s: PluginServer;
  beforeAll(async () => {
    s = await startPluginServer(['echo'], { dialect: 'postgres', host: { retention: { recordsPerTopic: 3 } } });
    await s.waitState('echo', 'running');
  });
  afterAll(async () => s?.close());

  const run = async (entry: string, body: unknown = {}) => s.waitRun((await s.api('POST', `/api/v1/plugins/echo/entries/${entry}`, body)).body.runId);

  it('keeps runs, store, records and config', async () => {
    expect((await run('work', { steps: 2, ms: 10 })).metrics).toEqual({ steps: 2 });
    expect((await run('remember', { key: 'a', value: 1 })).result).toEqual({ value: 1, keys: ['a'] });
    await run('say', { text: 'on postgres' });
    expect((await s.api('GET', '/api/v1/plugins/echo/messages')).body[0].data.text).toBe('on postgres');
    await waitFor(async () => (await s.api('GET', '/api/v1/plugins/echo/runs?limit=100')).body.some((r: { entry: string }) => r.entry === 'work'), 'the stored run');
    const put = await s.api('PUT', '/api/v1/plugins/echo/config', { greeting: 'pg', token: 'pg-secret' });
    expect(put.body.secrets.token).toBe(true);
    await s.waitState('echo', 'running');
    expect((await run('echo', { text: 'x' })).result).toBe('pg x');
    for (const text of ['m1', 'm2', 'm3', 'm4']) await run('say', { text });
    await s.server.plugins.repo.prune();
    // Retention: the newest 3 per plugin and topic stay.
    expect((await s.api('GET', '/api/v1/plugins/echo/messages')).body.map((m: { data: { text: string } }) => m.data.text)).toEqual(['m4', 'm3', 'm2']);
    expect((await s.api('GET', '/api/v1/plugins/echo/lifecycle')).body.length).toBeLessThanOrEqual(3);
  });

  it('survives a restart: disabled stays disabled, a run left running is failed', async () => {
    await s.api('POST', '/api/v1/plugins/echo/disable');
    // A run the server was running when it died.
    const now = new Date().toISOString();
    await s.server.infra.storage.db
      .insertInto('plugin_runs')
      .values({ id: 'orphan-run', plugin_id: 'echo', entry: 'work', trigger: 'http', status: 'running', progress: 0.3, stage: null, message: null, metrics_json: '{}', exports_json: '[]', result_json: null, error_json: null, parent_run_id: null, created_at: now, started_at: now, ended_at: null })
      .execute();
    await s.restart();
    const p = await s.state('echo');
    expect(p).toMatchObject({ state: 'disabled', enabled: false });
    const orphan = (await s.api('GET', '/api/v1/runs/orphan-run')).body;
    expect(orphan).toMatchObject({ status: 'failed', error: { code: 'server_restarted' } });
  });
});
