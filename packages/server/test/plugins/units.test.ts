/** Pure parts of the plugin host: manifest rules, dependency policy, crash guard, state checks, alert filter, framing. */
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { RpcChannel } from '@rwc/plugin-sdk/channel';
import { describe, expect, it } from 'vitest';
import { categoriesOf, wantsAlert, wantsSnapshot } from '../../src/notify/alert-filter.ts';
import { CrashGuard } from '../../src/plugins/crash-guard.ts';
import { judgeDependency, startOrder } from '../../src/plugins/dependencies.ts';
import { defaultLimits, parseManifest } from '../../src/plugins/manifest.ts';
import { quantile } from '../../src/plugins/metrics.ts';
import { checkPluginState } from '../../src/plugins/state-check.ts';
import { tempDir } from '../helpers/server.ts';

const dir = tempDir('rwc-manifest-');
fs.writeFileSync(path.join(dir, 'index.js'), 'export default {}');
fs.writeFileSync(path.join(dir, 'schema.json'), JSON.stringify({ type: 'object', properties: { key: { type: 'string', writeOnly: true }, pass: { type: 'string', secret: true }, n: { type: 'integer' } } }));
const base = `[plugin]\nid = "p"\nname = "P"\nversion = "1.0.0"\napi = "^1.0"\nruntime = "node"\nentry = "index.js"\n`;
const parse = (extra = '', head = base) => parseManifest(head + extra, dir);
const failOf = (text: string) => {
  try {
    parseManifest(text, dir);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
};

describe('plugin.toml', () => {
  it('reads the fixed [plugin] keys and fills in defaults', () => {
    const m = parse('provides = ["notifier@1"]\nrequires = ["snapshot-source@1?", "detector@1"]\n');
    expect(m).toMatchObject({ id: 'p', version: '1.0.0', runtime: 'node', provides: [{ kind: 'notifier', version: 1 }], defaultEnabled: true });
    expect(m.requires).toEqual([
      { kind: 'snapshot-source', version: 1, optional: true },
      { kind: 'detector', version: 1, optional: false },
    ]);
    expect(m.limits).toEqual(defaultLimits);
  });

  it('reads limits, a config schema file with secrets, and dependency policies', () => {
    const m = parse('[limits]\nmemory_mb = 64\ncall_timeout = 2.5\ncrash_limit = 5\n[config]\nschema = "schema.json"\n[dependencies.other]\nrecommended = "^2.1"\nsupported = ">=1 <3"\nconflicts = "<1"\n[dependencies.extra]\nsupported = "*"\noptional = true\n');
    expect(m.limits).toMatchObject({ memoryMb: 64, callTimeoutSeconds: 2.5, crashLimit: 5 });
    expect(m.config.secretFields).toEqual(['key', 'pass']);
    expect(m.dependencies).toEqual([
      { id: 'other', recommended: '^2.1', supported: '>=1 <3', untested: undefined, conflicts: '<1', optional: false },
      { id: 'extra', recommended: undefined, supported: '*', untested: undefined, conflicts: undefined, optional: true },
    ]);
  });

  it.each([
    ['[plugin]\nid = "Bad Id"\n', '[plugin].id'],
    [base.replace('api = "^1.0"', 'api = "banana"'), '[plugin].api'],
    [base.replace('entry = "index.js"', 'entry = "../outside.js"'), '[plugin].entry'],
    [`${base}provides = ["notifier@2"]\n`, '[plugin].provides[0]'],
    [`${base}provides = ["notifier@1?"]\n`, '[plugin].provides[0]'],
    [`${base}colour = "red"\n`, '[plugin].colour'],
    [`${base}[limits]\nmemory_mb = 1\n`, '[limits].memory_mb'],
    [`${base}[limits]\nbackoff_min = 5\nbackoff_max = 1\n`, '[limits].backoff_max'],
    [`${base}[config.schema]\ntype = "array"\n`, '[config].schema.type'],
    [`${base}[config.schema]\ntype = "object"\nrequired = "nope"\n`, '[config].schema'],
    [`${base}[dependencies.other]\nsupported = "not a range"\n`, '[dependencies.other].supported'],
    [`${base}[dependencies.other]\nwhatever = "^1"\n`, '[dependencies.other].whatever'],
    [`${base}[ui]\nx = 1\n`, '[ui]'],
  ])('refuses %j naming %s', (text, field) => {
    expect(failOf(text)).toContain(`plugin.toml ${field}`);
  });
});

describe('dependency policy (seed 004)', () => {
  const dep = { id: 'x', recommended: '^2.1', supported: '>=1.5 <3', untested: '>=3', conflicts: '<1.5', optional: false };
  it.each([
    ['2.2.0', true, 0],
    ['1.6.0', true, 1],
    ['3.1.0', true, 1],
    ['1.0.0', false, 'dependency_conflict'],
  ])('installed %s → ok %s', (v, ok, detail) => {
    const r = judgeDependency(dep, v);
    expect(r.ok).toBe(ok);
    if (r.ok) expect(r.notes).toHaveLength(detail as number);
    else expect(r.code).toBe(detail);
  });
  it('missing: refused unless optional; outside every range: unsupported', () => {
    expect(judgeDependency(dep, undefined)).toMatchObject({ ok: false, code: 'dependency_missing' });
    expect(judgeDependency({ ...dep, optional: true }, undefined).ok).toBe(true);
    expect(judgeDependency({ id: 'x', supported: '^1', optional: false }, '2.0.0')).toMatchObject({ ok: false, code: 'dependency_unsupported' });
  });
  it('orders dependencies first and sets cycles aside', () => {
    const m = (id: string, deps: string[] = []) => ({ id, dependencies: deps.map((d) => ({ id: d, optional: false })) });
    expect(startOrder([m('a', ['b']), m('b', ['c']), m('c'), m('d')])).toEqual({ order: ['c', 'b', 'a', 'd'], cyclic: [] });
    const r = startOrder([m('a', ['b']), m('b', ['a']), m('c')]);
    expect(r.order).toEqual(['c']);
    expect(r.cyclic.sort()).toEqual(['a', 'b']);
  });
});

describe('crash guard', () => {
  it('backs off exponentially and disables on the third crash within the window', () => {
    const g = new CrashGuard({ crashLimit: 3, crashWindowSeconds: 300, backoffMinSeconds: 1, backoffMaxSeconds: 60 });
    expect(g.recordCrash(0)).toEqual({ action: 'restart', delayMs: 1000, crashes: 1 });
    expect(g.recordCrash(10_000)).toEqual({ action: 'restart', delayMs: 2000, crashes: 2 });
    expect(g.recordCrash(20_000)).toEqual({ action: 'disable', crashes: 3 });
  });
  it('forgets crashes older than the window, and caps the backoff', () => {
    const g = new CrashGuard({ crashLimit: 3, crashWindowSeconds: 300, backoffMinSeconds: 40, backoffMaxSeconds: 60 });
    g.recordCrash(0);
    expect(g.recordCrash(1000)).toEqual({ action: 'restart', delayMs: 60_000, crashes: 2 });
    expect(g.recordCrash(302_000)).toMatchObject({ action: 'restart', crashes: 1 });
    g.reset();
    expect(g.recent(302_000)).toBe(0);
  });
});

describe('plugin printer states', () => {
  const good = { status: 'idle', fullStatus: true, stale: false, progress: null, remainingSeconds: null, layer: null, temperatures: { nozzle: { actual: 25, target: 0 } }, job: null, error: null, lastJob: null, updatedAt: 1 };
  it('passes a well-formed state through', () => {
    const r = checkPluginState(good, 'x');
    expect(r.problem).toBeNull();
    expect(r.state).toMatchObject({ status: 'idle', fullStatus: true, temperatures: { nozzle: { actual: 25, target: 0 } } });
  });
  it.each([
    [{ ...good, status: 'ready' }, /unknown status/],
    [{ ...good, status: 'error', error: null }, /status error without an error/],
    [{ ...good, error: 'boom' }, /error must be/],
    ['idle', /not an object/],
  ])('never reads a malformed state as idle and ready (%j)', (raw, why) => {
    const r = checkPluginState(raw, 'x');
    expect(r.problem).toMatch(why);
    expect(r.state.status).toBe('unknown');
    expect(r.state.fullStatus).toBe(false);
  });
  it('drops values of the wrong type', () => {
    const r = checkPluginState({ ...good, progress: 'half', temperatures: { nozzle: { actual: 'hot' } }, lastJob: { outcome: 'exploded', at: 1 } }, 'x');
    expect(r.state).toMatchObject({ progress: null, temperatures: {}, lastJob: null });
  });
});

describe('alert subscriptions', () => {
  it('maps codes to the categories people pick', () => {
    expect(categoriesOf('queue_paused_printer_error')).toEqual(['printer_error', 'queue_paused']);
    expect(categoriesOf('ai_paused_print')).toEqual(['ai_pause']);
    expect(categoriesOf('queue_finished')).toEqual(['queue_finished']);
    expect(categoriesOf('plugin_disabled')).toEqual([]);
  });
  it('sends by category, exact code or *', () => {
    expect(wantsAlert(['queue_finished'], 'job_failed')).toBe(false);
    expect(wantsAlert(['printer_error'], 'job_failed')).toBe(true);
    expect(wantsAlert(['plugin_disabled'], 'plugin_disabled')).toBe(true);
    expect(wantsAlert(['*'], 'anything')).toBe(true);
    expect(wantsAlert(null, 'anything')).toBe(true);
    expect(wantsSnapshot('ai_pause')).toBe(true);
    expect(wantsSnapshot('queue_finished')).toBe(false);
  });
  it('percentiles by nearest rank', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.99)).toBe(4);
    expect(quantile([], 0.5)).toBeNull();
  });
});

describe('the NDJSON channel', () => {
  const pair = () => {
    const a = new PassThrough();
    const b = new PassThrough();
    return { a, b };
  };
  it('closes on a line that is too long, failing what was pending', async () => {
    const { a } = pair();
    const errors: string[] = [];
    const ch = new RpcChannel(a, { onRequest: () => null, onNotification: () => {}, onProtocolError: (e) => errors.push(e.message) }, { maxLineBytes: 100 });
    const pending = ch.request('x', {});
    a.emit('data', 'y'.repeat(200));
    await expect(pending).rejects.toMatchObject({ code: 'channel_closed' });
    expect(errors[0]).toMatch(/longer than 100 bytes/);
    expect(ch.closed).toBe(true);
  });
  it('closes on a line that is not JSON', () => {
    const { a } = pair();
    const errors: string[] = [];
    const ch = new RpcChannel(a, { onRequest: () => null, onNotification: () => {}, onProtocolError: (e) => errors.push(e.message) });
    a.emit('data', 'hello\n');
    expect(errors[0]).toMatch(/not JSON/);
    expect(ch.closed).toBe(true);
  });
});
