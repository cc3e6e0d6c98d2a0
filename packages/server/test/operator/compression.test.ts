/** HTTP compression (issue 16, "fast and small"): API answers and the UI's files go out compressed when asked. */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, setupAdmin, startTestServer, tempDir } from '../helpers/server.ts';

describe('HTTP compression', () => {
  let s: TestServer;
  let token: string;
  const web = tempDir('rwc-web-');
  const script = `console.log(${JSON.stringify('dashboard '.repeat(2000))});`;
  beforeAll(async () => {
    fs.writeFileSync(path.join(web, 'index.html'), `<!doctype html><title>RWC</title><script src="/app.js"></script>${'<!-- pad -->'.repeat(200)}`);
    fs.writeFileSync(path.join(web, 'app.js'), script);
    s = await startTestServer({ webDist: web });
    token = (await setupAdmin(s)).accessToken;
  });
  afterAll(async () => {
    await s?.destroy();
    fs.rmSync(web, { recursive: true, force: true });
  });

  const raw = (url: string, encoding: string) =>
    fetch(s.url + url, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': encoding } });

  it('compresses API JSON with gzip or brotli as the client asks, and not when it does not', async () => {
    const plain = await raw('/api/v1/openapi.json', 'identity');
    expect(plain.headers.get('content-encoding')).toBeNull();
    const text = await plain.text();
    // fetch decodes for us; read the wire bytes through node's http to see the compression itself.
    const http = await import('node:http');
    const get = (encoding: string) =>
      new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
        http
          .get(`${s.url}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': encoding } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
          })
          .on('error', reject);
      });
    const gz = await get('gzip');
    expect(gz.encoding).toBe('gzip');
    expect(zlib.gunzipSync(gz.body).toString()).toBe(text);
    expect(gz.body.length).toBeLessThan(text.length / 3);
    const br = await get('br, gzip');
    expect(br.encoding).toBe('br');
    expect(zlib.brotliDecompressSync(br.body).toString()).toBe(text);
  });

  it("compresses the UI's files", async () => {
    const http = await import('node:http');
    const res = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      http
        .get(`${s.url}/app.js`, { headers: { 'accept-encoding': 'gzip' } }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c) => chunks.push(c));
          r.on('end', () => resolve({ encoding: r.headers['content-encoding'], body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
    expect(res.encoding).toBe('gzip');
    expect(zlib.gunzipSync(res.body).toString()).toBe(script);
  });
});
