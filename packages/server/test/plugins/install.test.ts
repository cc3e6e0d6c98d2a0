/**
 * Installing and removing plugins: from a folder, from a .tgz (npm pack layout), from npm
 * packages found in node_modules; bad manifests refused with the field named, an incompatible API
 * refused before the plugin runs.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/server.ts';
import { type PluginServer, fixturesDir, startPluginServer } from './helpers.ts';

function variant(name: string, edit: (toml: string) => string): string {
  const dir = path.join(tempDir('rwc-variant-'), name);
  fs.cpSync(path.join(fixturesDir, 'cycle-a'), dir, { recursive: true });
  const file = path.join(dir, 'plugin.toml');
  fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf8').replaceAll('cycle-a', name)));
  return dir;
}

describe('installing plugins', () => {
  let s: PluginServer;
  let npmRoot: string;
  beforeAll(async () => {
    npmRoot = tempDir('rwc-npm-');
    const pkg = path.join(npmRoot, '@acme', 'rwc-hello');
    fs.cpSync(variant('npm-hello', (t) => t), pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@acme/rwc-hello', version: '1.0.0', keywords: ['realworldclaw-plugin'] }));
    const other = path.join(npmRoot, 'not-a-plugin');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'package.json'), JSON.stringify({ name: 'not-a-plugin', version: '1.0.0' }));
    s = await startPluginServer(['echo'], { host: { npmRoots: [npmRoot] } });
  });
  afterAll(async () => {
    await s?.close();
    fs.rmSync(npmRoot, { recursive: true, force: true });
  });

  it('finds plugins in npm packages marked realworldclaw-plugin', async () => {
    const p = await s.waitState('npm-hello', 'running');
    expect(p.source).toBe('npm');
    const list = (await s.api('GET', '/api/v1/plugins')).body.map((x: { id: string }) => x.id);
    expect(list).not.toContain('not-a-plugin');
    expect((await s.api('DELETE', '/api/v1/plugins/npm-hello')).status).toBe(409);
    expect((await s.api('DELETE', '/api/v1/plugins/echo')).body.error.code).toBe('plugin_not_removable');
  });

  it('installs from a folder and starts it; a second install of the id is a conflict', async () => {
    const dir = variant('from-folder', (t) => t);
    const r = await s.api('POST', '/api/v1/plugins', { path: dir });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ id: 'from-folder', state: 'running', source: 'installed', enabled: true });
    expect(fs.existsSync(path.join(s.server.dataDir, 'plugins', 'from-folder', 'plugin.toml'))).toBe(true);
    const again = await s.api('POST', '/api/v1/plugins', { path: dir });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('plugin_exists');
    const called = await s.api('POST', '/api/v1/plugins/from-folder/entries/hello', {});
    expect((await s.waitRun(called.body.runId)).result).toBe('hello from cycle-a');
  });

  it('installs a .tgz made like npm pack (package/ prefix) and removes it again', async () => {
    const dir = variant('from-tgz', (t) => t);
    const file = path.join(path.dirname(dir), 'plugin.tgz');
    await tar.c({ gzip: true, file, cwd: dir, prefix: 'package' }, fs.readdirSync(dir));
    const form = new FormData();
    form.append('file', new Blob([fs.readFileSync(file)]), 'from-tgz-1.0.0.tgz');
    const r = await s.server.api('POST', '/api/v1/plugins', { token: s.token, body: form });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ id: 'from-tgz', state: 'running' });
    const del = await s.api('DELETE', '/api/v1/plugins/from-tgz');
    expect(del.status).toBe(204);
    expect(fs.existsSync(path.join(s.server.dataDir, 'plugins', 'from-tgz'))).toBe(false);
    expect((await s.api('GET', '/api/v1/plugins/from-tgz')).status).toBe(404);
  });

  it('refuses archives that are not plugins', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('not a tar at all')]), 'x.tgz');
    const r = await s.server.api('POST', '/api/v1/plugins', { token: s.token, body: form });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_archive');
    const noPath = await s.api('POST', '/api/v1/plugins', {});
    expect(noPath.status).toBe(400);
    expect(noPath.body.error.message).toMatch(/^path/);
    expect((await s.api('POST', '/api/v1/plugins', { path: '/no/such/folder' })).status).toBe(400);
  });

  it.each([
    ['missing version', (t: string) => t.replace(/version = .*\n/, ''), '[plugin].version', 'invalid_manifest'],
    ['bad runtime', (t: string) => t.replace('runtime = "node"', 'runtime = "ruby"'), '[plugin].runtime', 'invalid_manifest'],
    ['bad semver', (t: string) => t.replace('version = "1.0.0"', 'version = "one"'), '[plugin].version', 'invalid_manifest'],
    ['unknown capability', (t: string) => `${t.replace('[plugin]\n', '[plugin]\nprovides = ["teleporter@1"]\n')}`, '[plugin].provides[0]', 'invalid_manifest'],
    ['missing entry file', (t: string) => t.replace('entry = "index.ts"', 'entry = "gone.ts"'), '[plugin].entry', 'invalid_manifest'],
    ['TOML syntax', (t: string) => `${t}\n[[[`, '(syntax)', 'invalid_manifest'],
    ['incompatible API', (t: string) => t.replace('api = "^1.0"', 'api = "^2.0"'), '[plugin].api', 'incompatible_api'],
  ])('refuses a manifest with %s, naming the field', async (_what, edit, field, code) => {
    const dir = variant(`bad-${Math.random().toString(36).slice(2, 8)}`, edit);
    const r = await s.api('POST', '/api/v1/plugins', { path: dir });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.message).toContain(`plugin.toml ${field}`);
    // Nothing was installed, nothing ran.
    expect(fs.readdirSync(path.join(s.server.dataDir, 'plugins')).some((d) => d.startsWith('bad-'))).toBe(false);
  });

  it('shows a broken plugin folder as failed with the reason', async () => {
    const broken = path.join(s.dir, 'broken');
    fs.cpSync(variant('broken', (t) => t.replace('api = "^1.0"', 'api = ">=3"')), broken, { recursive: true });
    // A fresh server on the same data sees it at discovery.
    await s.restart();
    const p = (await s.api('GET', '/api/v1/plugins')).body.find((x: { id: string }) => x.id === 'broken');
    expect(p).toMatchObject({ state: 'failed', enabled: false });
    expect(p.reason).toContain('[plugin].api');
  });
});
