/**
 * A Python plugin (standard-library SDK, snake_case mirror of the TypeScript one) through the same
 * host: handshake, entries (async and plain), validation, runs with progress, store, messages,
 * calls into a Node plugin, events, timers, config, and the failure handling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert } from '../../src/alerts/raise.ts';
import { waitFor } from '../helpers/wait.ts';
import { type PluginServer, startPluginServer } from './helpers.ts';

describe('a Python plugin', () => {
  let s: PluginServer;
  beforeAll(async () => {
    s = await startPluginServer(['py-echo', 'echo']);
    await s.waitState('py-echo', 'running');
    await s.waitState('echo', 'running');
  });
  afterAll(async () => s?.close());

  const run = async (entry: string, body: unknown = {}) => {
    const r = await s.api('POST', `/api/v1/plugins/py-echo/entries/${entry}`, body);
    if (r.status !== 202) return r;
    return s.waitRun(r.body.runId);
  };

  it('declares itself over the same handshake', async () => {
    const p = await s.state('py-echo');
    expect(p).toMatchObject({ runtime: 'python', version: '0.3.0', timers: [{ name: 'tick', every: 0.2 }], subscriptions: ['alert'] });
    expect(p.entries.find((e: { name: string }) => e.name === 'hello').input.required).toEqual(['name']);
    const logs = (await s.api('GET', '/api/v1/plugins/py-echo/logs')).body.lines.map((l: { text: string }) => l.text);
    expect(logs).toEqual(expect.arrayContaining(['python plugin starting', 'started with prefix py']));
  });

  it('answers async and plain entries, validated by the host', async () => {
    expect((await run('hello', { name: 'ada' })).result).toBe('py: hello ada');
    const bad = await run('hello', { name: 5 });
    expect(bad.status).toBe(400);
    const sum = await run('slow_sum', { numbers: [1, 2, 3, 4] });
    expect(sum).toMatchObject({ status: 'succeeded', result: 10, progress: 1, stage: 'added 4', metrics: { count: 4 } });
    expect(sum.exports).toEqual([{ kind: 'text', name: 'total', text: '10' }]);
    expect((await run('refuse')).error).toEqual({ code: 'not_today', message: 'refused on purpose' });
  });

  it('uses the store, messages and the bus from async and plain code', async () => {
    expect((await run('remember', { key: 'k', value: [1, 'two'] })).result).toEqual({ value: [1, 'two'], keys: ['k'] });
    expect((await run('remember_async', { key: 'j', value: { a: 1 } })).result).toEqual({ a: 1 });
    expect((await run('say', { text: 'from python' })).result).toBe('from python');
  });

  it('calls a Node plugin through the host', async () => {
    expect((await run('call_node', { text: 'snake' })).result).toBe('hello snake');
  });

  it('gets events and fires timers', async () => {
    raiseAlert(s.server.infra.bus, { level: 'info', code: 'py_test', message: 'hi python' });
    await waitFor(async () => ((await run('alerts')).result as string[]).includes('py_test'), 'the alert in python');
    await waitFor(async () => ((await run('ticks')).result as number) >= 2, 'timer fires');
  });

  it('gets a new config through a restart', async () => {
    const put = await s.api('PUT', '/api/v1/plugins/py-echo/config', { prefix: 'snake' });
    expect(put.status).toBe(200);
    await s.waitState('py-echo', 'running');
    expect((await run('hello', { name: 'ada' })).result).toBe('snake: hello ada');
  });

  it('is restarted after a crash and after blocking its event loop', async () => {
    const crashed = await run('crash');
    expect(crashed.error.code).toBe('plugin_crashed');
    await s.waitState('py-echo', 'running');
    const blocked = await run('block');
    expect(blocked.error.code).toBe('plugin_unresponsive');
    await s.waitState('py-echo', 'running');
    expect((await run('hello', { name: 'again' })).result).toBe('snake: hello again');
  });
});
