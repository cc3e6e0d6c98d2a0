/**
 * Every way a plugin can fail, each in its own process next to a printer that is printing a queue
 * job: the plugin is killed and restarted (or disabled after a crash loop, with an alert), its run
 * fails with a code that says why, and the server keeps answering while the print goes on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { type PrintingFarm, startPrinting } from './farm.ts';
import { type PluginServer, startPluginServer } from './helpers.ts';

describe('plugin failures never take the farm down', () => {
  let s: PluginServer;
  let farm: PrintingFarm;
  beforeAll(async () => {
    s = await startPluginServer(['crasher', 'hanger', 'blocker', 'echo']);
    farm = await startPrinting(s, 20);
  });
  afterAll(async () => s?.close());

  const lifecycle = async (id: string) => (await s.api('GET', `/api/v1/plugins/${id}/lifecycle?limit=100`)).body as Array<{ type: string; data: any }>;

  it('a plugin that crashes mid-call fails that run, is restarted and serves the next call', async () => {
    const before = await s.waitState('crasher', 'running');
    const run = await s.api('POST', '/api/v1/plugins/crasher/entries/boom', {});
    expect(run.status).toBe(202);
    const ended = await s.waitRun(run.body.runId);
    expect(ended.status).toBe('failed');
    expect(ended.error.code).toBe('plugin_crashed');
    const after = await s.waitState('crasher', 'running');
    expect(after.health.pid).not.toBe(before.health.pid);
    expect(after.health.restarts).toBe(1);
    const ok = await s.waitRun((await s.api('POST', '/api/v1/plugins/crasher/entries/ok', {})).body.runId);
    expect(ok).toMatchObject({ status: 'succeeded', result: 'fine' });
    expect((await lifecycle('crasher')).map((r) => r.type)).toEqual(expect.arrayContaining(['crashed', 'restarting', 'online']));
    await farm.assertAlive();
  });

  it('a call that hangs times out; the plugin that ignores its deadline is killed and restarted', async () => {
    const before = await s.waitState('hanger', 'running');
    const run = await s.api('POST', '/api/v1/plugins/hanger/entries/hang', {});
    const ended = await s.waitRun(run.body.runId);
    expect(ended.status).toBe('failed');
    expect(ended.error.code).toBe('timeout');
    await waitFor(async () => (await lifecycle('hanger')).some((r) => r.type === 'killed' && r.data.kind === 'call_timeout'), 'the hung plugin to be killed');
    const after = await s.waitState('hanger', 'running');
    expect(after.health.pid).not.toBe(before.health.pid);
    expect(after.metrics.timeouts).toBeGreaterThanOrEqual(0);
    await farm.assertAlive();
  });

  it('a cancelled run that honours its signal ends without a kill', async () => {
    const before = await s.waitState('hanger', 'running');
    const run = await s.api('POST', '/api/v1/plugins/hanger/entries/polite', {});
    await waitFor(async () => (await s.api('GET', `/api/v1/runs/${run.body.runId}`)).body.status === 'running', 'the run to start');
    const cancel = await s.api('POST', `/api/v1/runs/${run.body.runId}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('cancelled');
    expect((await s.api('POST', `/api/v1/runs/${run.body.runId}/cancel`)).status).toBe(409);
    // The plugin saw the cancellation and answered; nothing was killed.
    await waitFor(async () => (await s.state('hanger')).health.inflight === 0, 'the plugin to drop the run');
    const after = await s.state('hanger');
    expect(after.state).toBe('running');
    expect(after.health.pid).toBe(before.health.pid);
  });

  it('a plugin that blocks its event loop misses heartbeats and is killed and restarted', async () => {
    const before = await s.waitState('blocker', 'running');
    const run = await s.api('POST', '/api/v1/plugins/blocker/entries/block', {});
    const ended = await s.waitRun(run.body.runId);
    expect(ended.status).toBe('failed');
    expect(ended.error.code).toBe('plugin_unresponsive');
    expect((await lifecycle('blocker')).some((r) => r.type === 'killed' && r.data.kind === 'heartbeat')).toBe(true);
    const after = await s.waitState('blocker', 'running');
    expect(after.health.pid).not.toBe(before.health.pid);
    const ok = await s.waitRun((await s.api('POST', '/api/v1/plugins/blocker/entries/ok', {})).body.runId);
    expect(ok.result).toBe('fine');
    await farm.assertAlive();
  });

  it('other plugins kept working through all of it, and the print finished', async () => {
    const echo = await s.waitRun((await s.api('POST', '/api/v1/plugins/echo/entries/echo', { text: 'still here' })).body.runId);
    expect(echo.result).toBe('hello still here');
    expect((await s.state('echo')).health.restarts).toBe(0);
    const p1 = await farm.progress();
    await waitFor(async () => (await farm.progress()) > p1 || (await farm.progress()) === 100, 'print progress to move');
    await farm.waitFinished();
  }, 120_000);
});

describe('crash loops end in disabled plus an alert', () => {
  let s: PluginServer;
  let farm: PrintingFarm;
  beforeAll(async () => {
    s = await startPluginServer(['crash-on-start', 'leaker']);
    farm = await startPrinting(s, 20);
  });
  afterAll(async () => s?.close());

  const alerts = async () => (await s.api('GET', '/api/v1/events?type=alert&limit=100')).body.map((e: { data: any }) => e.data) as any[];

  it('a plugin that crashes on start is restarted with backoff, then disabled after 3 crashes', async () => {
    const p = await s.waitState('crash-on-start', 'disabled');
    expect(p.reason).toMatch(/crashed 3 times/);
    expect(p.enabled).toBe(false);
    const life = (await s.api('GET', '/api/v1/plugins/crash-on-start/lifecycle?limit=100')).body as Array<{ type: string; data: any }>;
    expect(life.filter((r) => r.type === 'crashed')).toHaveLength(3);
    expect(life.filter((r) => r.type === 'restarting').map((r) => r.data.inMs).sort((a, b) => a - b)).toEqual([100, 200]);
    expect(life.some((r) => r.type === 'online')).toBe(false);
    await waitFor(async () => (await alerts()).find((a) => a.code === 'plugin_disabled' && a.params.pluginId === 'crash-on-start'), 'the plugin_disabled alert');
    // What the plugin printed before dying is in its log.
    const logs = await s.api('GET', '/api/v1/plugins/crash-on-start/logs?tail=50');
    expect(logs.body.lines.map((l: { text: string }) => l.text).join('\n')).toContain('about to crash on start');
    // Disabled stays disabled across a server restart.
    await farm.assertAlive();
  });

  it('a plugin that leaks memory past its limit is killed, restarted, then disabled', async () => {
    const p = await s.waitState('leaker', 'disabled', 40_000);
    expect(p.reason).toMatch(/crashed 3 times/);
    const life = (await s.api('GET', '/api/v1/plugins/leaker/lifecycle?limit=100')).body as Array<{ type: string; data: any }>;
    const kills = life.filter((r) => r.type === 'killed' || r.type === 'crashed');
    expect(kills).toHaveLength(3);
    for (const k of kills) expect(k.data.kind).toBe('memory_limit');
    expect(life.filter((r) => r.type === 'online').length).toBeGreaterThanOrEqual(2);
    await waitFor(async () => (await alerts()).find((a) => a.code === 'plugin_disabled' && a.params.pluginId === 'leaker'), 'the plugin_disabled alert');
    await farm.assertAlive();
  }, 60_000);

  it('enabling a disabled plugin gives it a fresh start; the print still finishes', async () => {
    const r = await s.api('POST', '/api/v1/plugins/crash-on-start/enable');
    expect(r.status).toBe(200);
    await s.waitState('crash-on-start', 'disabled');
    await farm.waitFinished();
  }, 120_000);
});
