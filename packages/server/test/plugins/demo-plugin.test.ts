/**
 * The demo farm shows a plugin at work: on a first start with the demo fleet, the demo detector
 * plugin runs in its own process, serves detector@1 through the registry like a built-in would,
 * and looks at the printers' cameras while they print, posting what it saw.
 */
import { printerSnapshotJpeg } from '@rwc/simulators/bambu/jpeg.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

describe('the demo detector plugin in the demo farm', () => {
  let s: TestServer;
  let token: string;
  beforeAll(async () => {
    s = await startTestServer({ config: { demo: true }, plugins: { heartbeatIntervalMs: 500 } });
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => s?.destroy());

  const api = (method: string, url: string, body?: unknown) => s.api(method, url, { token, body });

  it('runs on first start with the demo fleet', async () => {
    await waitFor(async () => (await api('GET', '/api/v1/plugins/demo-detector')).body.state === 'running', 'the demo detector to run');
    const others = (await api('GET', '/api/v1/plugins')).body.filter((p: { id: string }) => p.id.endsWith('-notifier'));
    expect(others.map((p: { state: string }) => p.state)).toEqual(['disabled', 'disabled', 'disabled', 'disabled']);
  });

  it('serves detector@1 through the capability registry', async () => {
    const entry = s.infra.registry.list('detector').find((d) => d.name === 'demo-detector');
    expect(entry?.provider).toBe('plugin:demo-detector');
    const r = await entry!.impl.detect({ jpeg: printerSnapshotJpeg('RUNNING', 30, 640, 360) });
    expect(r.model).toBe('demo-entropy-v1');
    expect(Array.isArray(r.detections)).toBe(true);
    await expect(entry!.impl.detect({ jpeg: Buffer.from('not a jpeg') })).rejects.toThrow(/not a JPEG/);
  });

  it('looks at a printing printer through its camera and posts what it saw', async () => {
    const printers = await waitFor(async () => {
      const list = (await api('GET', '/api/v1/printers')).body as any[];
      return list.length === 4 && list.every((p) => p.state.status === 'idle') && list;
    }, 'the demo printers', 30_000);
    const a1 = printers.find((p) => p.name === 'A1-mini-02');
    const cube = (await api('GET', '/api/v1/files')).body.find((f: { name: string }) => f.name === 'cube-a1mini.gcode.3mf');
    await api('POST', '/api/v1/queue', { fileId: cube.id, printerIds: [a1.id] });
    await waitFor(async () => (await api('GET', `/api/v1/printers/${a1.id}`)).body.state.status === 'printing', 'the A1 mini to print', 60_000);
    const job = await waitFor(async () => {
      const m = (await api('GET', '/api/v1/plugins/demo-detector/messages?type=job')).body;
      return m.length > 0 && m;
    }, 'the job.started message');
    expect(job[0].data.text).toContain('A1-mini-02 started cube-a1mini.gcode.3mf');
    const run = await api('POST', '/api/v1/plugins/demo-detector/entries/lookNow', {});
    const done = await waitFor(async () => {
      const r = (await api('GET', `/api/v1/runs/${run.body.runId}`)).body;
      return r.status === 'succeeded' && r;
    }, 'the look to finish');
    const seen = done.result.find((x: { printer: string }) => x.printer === 'A1-mini-02');
    expect(typeof seen.score).toBe('number');
    const watch = (await api('GET', '/api/v1/plugins/demo-detector/messages?type=watch')).body;
    expect(watch[0].data.text).toMatch(/A1-mini-02: (looks fine|suspicious)/);
  }, 90_000);
});
