/**
 * The plugin API over HTTP and the WebSocket: runs with progress, metrics and exports; the store;
 * messages, events and lifecycle records; domain and custom events; timers; plugin-to-plugin calls
 * with cycle refusal; config validation with secrets; reload without a server restart; roles.
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert } from '../../src/alerts/raise.ts';
import { waitFor } from '../helpers/wait.ts';
import { type PluginServer, startPluginServer } from './helpers.ts';

describe('plugin API', () => {
  let s: PluginServer;
  let viewer: string;
  let operator: string;
  const ws: Array<{ type: string; data: any }> = [];
  let socket: WebSocket;

  beforeAll(async () => {
    s = await startPluginServer(['echo', 'cycle-a', 'cycle-b']);
    for (const role of ['viewer', 'operator']) {
      await s.api('POST', '/api/v1/users', { username: role, password: 'correct-horse-battery', role });
    }
    const login = async (u: string) => (await s.server.api('POST', '/api/v1/auth/login', { body: { username: u, password: 'correct-horse-battery' } })).body.accessToken;
    viewer = await login('viewer');
    operator = await login('operator');
    socket = new WebSocket(`${s.server.url.replace(/^http/, 'ws')}/api/v1/ws?token=${s.token}`);
    socket.on('message', (raw) => ws.push(JSON.parse(String(raw))));
    await new Promise((r) => socket.once('open', r));
    await Promise.all(['echo', 'cycle-a', 'cycle-b'].map((id) => s.waitState(id, 'running')));
  });
  afterAll(async () => {
    socket?.close();
    await s?.close();
  });

  const run = async (id: string, entry: string, body: unknown = {}) => {
    const r = await s.api('POST', `/api/v1/plugins/${id}/entries/${entry}`, body);
    expect(r.status).toBe(202);
    return s.waitRun(r.body.runId);
  };

  it('lists plugins with state, provides, entries, health and metrics', async () => {
    const r = await s.server.api('GET', '/api/v1/plugins', { token: viewer });
    expect(r.status).toBe(200);
    const echo = r.body.find((p: { id: string }) => p.id === 'echo');
    expect(echo).toMatchObject({ id: 'echo', name: 'Echo', version: '1.2.0', state: 'running', enabled: true, runtime: 'node' });
    expect(echo.entries.map((e: { name: string }) => e.name)).toContain('echo');
    expect(echo.health.pid).toBeGreaterThan(0);
    expect(echo.metrics.memoryBytes === null || echo.metrics.memoryBytes > 1e6).toBe(true);
  });

  it('validates entry arguments against the entry schema', async () => {
    const bad = await s.api('POST', '/api/v1/plugins/echo/entries/echo', {});
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_input');
    expect(bad.body.error.message).toContain('body.text');
    const long = await s.api('POST', '/api/v1/plugins/echo/entries/echo', { text: 'x'.repeat(101) });
    expect(long.status).toBe(400);
    expect((await s.api('POST', '/api/v1/plugins/echo/entries/nope', {})).status).toBe(404);
    expect((await s.api('POST', '/api/v1/plugins/nope/entries/echo', {})).status).toBe(404);
    expect((await s.api('GET', '/api/v1/runs/no-such-run')).status).toBe(404);
  });

  it('a run reports progress, stage, metrics and exports, and its updates reach the WebSocket', async () => {
    const r = await run('echo', 'work', { steps: 4, ms: 30 });
    expect(r).toMatchObject({ status: 'succeeded', progress: 1, result: { steps: 4 }, metrics: { steps: 4 }, stage: 'step 4' });
    expect(r.exports).toEqual([
      { kind: 'text', name: 'summary', text: 'did 4 steps' },
      { kind: 'binary', name: 'blob', mime: 'application/octet-stream', base64: Buffer.from([1, 2, 3]).toString('base64') },
    ]);
    await waitFor(() => ws.some((e) => e.type === 'plugin.run' && e.data.run.id === r.id && e.data.run.status === 'succeeded'), 'the run end on the WebSocket');
    const statuses = ws.filter((e) => e.type === 'plugin.run' && e.data.run.id === r.id).map((e) => e.data.run.status);
    expect(statuses[0]).toBe('queued');
    expect(statuses).toContain('running');
    const listed = await s.api('GET', '/api/v1/plugins/echo/runs?limit=100');
    expect(listed.body.some((x: { id: string }) => x.id === r.id)).toBe(true);
    const failed = await run('echo', 'fail');
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'on_purpose', message: 'it went wrong on purpose' } });
  });

  it('keeps a per-plugin store in the database', async () => {
    const r = await run('echo', 'remember', { key: 'colour', value: { r: 1 } });
    expect(r.result).toEqual({ value: { r: 1 }, keys: ['colour'] });
    const row = await s.server.infra.storage.db.selectFrom('plugin_store').selectAll().where('plugin_id', '=', 'echo').execute();
    expect(row.map((x) => [x.key, JSON.parse(x.value_json)])).toEqual([['colour', { r: 1 }]]);
  });

  it('keeps messages, events and lifecycle records, queryable over HTTP and from the plugin', async () => {
    await run('echo', 'say', { text: 'first note' });
    await run('echo', 'say', { text: 'second note' });
    const messages = await s.server.api('GET', '/api/v1/plugins/echo/messages?limit=10', { token: viewer });
    expect(messages.body.map((m: { data: { text: string } }) => m.data.text).slice(0, 2)).toEqual(['second note', 'first note']);
    expect(messages.body[0]).toMatchObject({ pluginId: 'echo', topic: 'messages', type: 'note', data: { title: 'Echo says' } });
    expect(ws.some((e) => e.type === 'plugin.message' && e.data.message.text === 'first note')).toBe(true);
    const events = await s.api('GET', '/api/v1/plugins/echo/events?type=custom');
    expect(events.body[0].data).toEqual({ name: 'custom:echo.said', data: { text: 'second note' } });
    const entries = await s.api('GET', '/api/v1/plugins/echo/events?type=entry&limit=50');
    expect(entries.body.find((e: { data: { entry: string } }) => e.data.entry === 'say').data).toMatchObject({ entry: 'say', trigger: 'http' });
    const life = await s.api('GET', '/api/v1/plugins/echo/lifecycle');
    expect(life.body.map((l: { type: string }) => l.type)).toEqual(expect.arrayContaining(['spawned', 'online']));
    const fromPlugin = await run('echo', 'recent');
    expect(fromPlugin.result.slice(0, 2)).toEqual(['second note', 'first note']);
  });

  it('delivers the domain events a plugin subscribed to', async () => {
    raiseAlert(s.server.infra.bus, { level: 'warning', code: 'test_alert', message: 'for the plugin' });
    await s.api('POST', '/api/v1/queue/pause');
    await waitFor(async () => {
      const seen = (await run('echo', 'seen')).result as Array<{ type: string; data: any }>;
      return seen.some((e) => e.type === 'alert' && e.data.code === 'test_alert') && seen.some((e) => e.type === 'queue.changed');
    }, 'the plugin to see the alert and the queue change');
    expect((await s.state('echo')).metrics.eventsDelivered).toBeGreaterThanOrEqual(2);
  });

  it('fires timers as runs', async () => {
    await waitFor(async () => ((await run('echo', 'ticks')).result as number) >= 2, 'two timer fires');
    const timerRuns = await s.api('GET', '/api/v1/plugins/echo/runs?limit=200');
    expect(timerRuns.body.some((r: { trigger: string; entry: string; status: string }) => r.trigger === 'timer' && r.entry === 'timer:tick' && r.status === 'succeeded')).toBe(true);
  });

  it('lets plugins call each other through the host', async () => {
    const r = await run('cycle-a', 'callOther');
    expect(r.result).toBe('hello from cycle-b');
    const child = (await s.api('GET', '/api/v1/plugins/cycle-b/runs?limit=20')).body.find((x: { entry: string }) => x.entry === 'hello');
    expect(child).toMatchObject({ trigger: 'plugin', parentRunId: r.id, status: 'succeeded' });
  });

  it('refuses a call back into a plugin already in the call chain, without a deadlock', async () => {
    const r = await run('cycle-a', 'ping');
    expect(r.status).toBe('succeeded');
    // a → b → (a refused): b reports the refusal, a returns b's answer.
    expect(r.result).toEqual({
      from: 'cycle-a',
      reply: { from: 'cycle-b', refused: 'call_cycle', message: expect.stringContaining('cycle-a → cycle-b → cycle-a') },
    });
    // Both plugins are free again at once.
    expect((await run('cycle-b', 'hello')).result).toBe('hello from cycle-b');
    expect((await s.state('cycle-a')).health.inflight).toBe(0);
  });

  it('checks roles: viewers read, operators run entries, admins change plugins', async () => {
    const as = (token: string, method: string, url: string, body?: unknown) => s.server.api(method, url, { token, body });
    expect((await as(viewer, 'POST', '/api/v1/plugins/echo/entries/version', {})).status).toBe(403);
    expect((await as(operator, 'POST', '/api/v1/plugins/echo/entries/version', {})).status).toBe(202);
    expect((await as(operator, 'POST', '/api/v1/plugins/echo/disable')).status).toBe(403);
    expect((await as(operator, 'GET', '/api/v1/plugins/echo/config')).status).toBe(403);
    expect((await as(operator, 'PUT', '/api/v1/plugins/echo/config', { greeting: 'x' })).status).toBe(403);
    expect((await as(operator, 'POST', '/api/v1/plugins', { path: '/tmp' })).status).toBe(403);
    expect((await as(viewer, 'GET', '/api/v1/plugins/echo/logs')).status).toBe(403);
    expect((await s.server.api('GET', '/api/v1/plugins')).status).toBe(401);
  });

  it('validates config against the schema and never returns secrets', async () => {
    const got = await s.api('GET', '/api/v1/plugins/echo/config');
    expect(got.body).toMatchObject({ config: { greeting: 'hello', times: 1 }, secrets: { token: false } });
    expect(got.body.schema.properties.greeting.type).toBe('string');
    const empty = await s.api('PUT', '/api/v1/plugins/echo/config', { greeting: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/^config\.greeting: /);
    const unknown = await s.api('PUT', '/api/v1/plugins/echo/config', { greeting: 'hi', colour: 'red' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toBe('config.colour: is not a known field');
    const wrongType = await s.api('PUT', '/api/v1/plugins/echo/config', { times: 'three' });
    expect(wrongType.body.error.message).toMatch(/^config\.times/);
    const ok = await s.api('PUT', '/api/v1/plugins/echo/config', { greeting: 'hey', times: 2, token: 's3cret-token' });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ config: { greeting: 'hey', times: 2 }, schema: expect.any(Object), secrets: { token: true } });
    expect(JSON.stringify(ok.body)).not.toContain('s3cret');
    const row = await s.server.infra.storage.db.selectFrom('plugins').select('config_json').where('id', '=', 'echo').executeTakeFirstOrThrow();
    expect(row.config_json).not.toContain('s3cret');
    expect(JSON.parse(row.config_json).token).toMatch(/^enc:v1:/);
    // No reload hook: the plugin restarts with the new config.
    await s.waitState('echo', 'running');
    expect((await run('echo', 'echo', { text: 'there' })).result).toBe('hey there');
    expect((await run('echo', 'hasToken')).result).toBe(true);
    // A secret left out keeps its value; null clears it.
    await s.api('PUT', '/api/v1/plugins/echo/config', { greeting: 'hey' });
    expect((await s.api('GET', '/api/v1/plugins/echo/config')).body.secrets.token).toBe(true);
    await s.api('PUT', '/api/v1/plugins/echo/config', { greeting: 'hey', token: null });
    expect((await s.api('GET', '/api/v1/plugins/echo/config')).body.secrets.token).toBe(false);
    // The plugin's own update is validated too.
    await s.waitState('echo', 'running');
    const bad = await run('echo', 'setTimes', { times: 99 });
    expect(bad.error.code).toBe('invalid_config');
    expect(bad.error.message).toMatch(/config\.times/);
    expect((await run('echo', 'setTimes', { times: 3 })).result).toMatchObject({ times: 3 });
    expect((await s.api('GET', '/api/v1/plugins/echo/config')).body.config.times).toBe(3);
  });

  it('reloads new code without a server restart', async () => {
    expect((await run('echo', 'version')).result).toBe('v1');
    const file = path.join(s.dir, 'echo', 'index.ts');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace("version: async () => 'v1'", "version: async () => 'v2'"));
    const toml = path.join(s.dir, 'echo', 'plugin.toml');
    fs.writeFileSync(toml, fs.readFileSync(toml, 'utf8').replace('version = "1.2.0"', 'version = "1.3.0"'));
    const r = await s.api('POST', '/api/v1/plugins/echo/reload');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ state: 'running', version: '1.3.0' });
    expect((await run('echo', 'version')).result).toBe('v2');
    expect((await s.api('GET', '/api/v1/plugins/echo/lifecycle?type=reload')).body[0].data).toEqual({ version: '1.3.0' });
    expect((await s.api('GET', '/api/v1/health')).status).toBe(200);
  });

  it('disables and enables a plugin', async () => {
    const off = await s.api('POST', '/api/v1/plugins/cycle-b/disable');
    expect(off.body).toMatchObject({ state: 'disabled', enabled: false, health: { pid: null } });
    const refused = await s.api('POST', '/api/v1/plugins/cycle-b/entries/hello', {});
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('plugin_not_running');
    const viaA = await run('cycle-a', 'callOther');
    expect(viaA.error.code).toBe('plugin_unavailable');
    const on = await s.api('POST', '/api/v1/plugins/cycle-b/enable');
    expect(on.body.state).toBe('running');
    expect((await run('cycle-a', 'callOther')).result).toBe('hello from cycle-b');
  });

  it('streams a plugin log', async () => {
    const tail = await s.api('GET', '/api/v1/plugins/echo/logs?tail=500');
    expect(tail.body.lines.some((l: { text: string }) => l.text.includes('echo up with greeting'))).toBe(true);
    const ctl = new AbortController();
    const res = await fetch(`${s.server.url}/api/v1/plugins/echo/logs?follow=true&tail=0`, { headers: { authorization: `Bearer ${s.token}` }, signal: ctl.signal });
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    const reader = res.body!.getReader();
    let text = '';
    await s.api('POST', '/api/v1/plugins/echo/entries/say', { text: 'log me' });
    await s.api('POST', '/api/v1/plugins/echo/reload');
    while (!text.includes('"online')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ctl.abort();
    expect(text).toContain('online');
  });
});
