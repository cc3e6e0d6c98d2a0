import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@rwc/server/util/logger.ts';
import { tempDir } from '../../server/test/helpers/server.ts';
import { EdgeAgent } from '../src/agent.ts';
import { CommandRecord } from '../src/command-record.ts';
import { FileCache } from '../src/file-cache.ts';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('file cache', () => {
  it('resumes a dropped download with a Range request and checks the hash', async () => {
    const bytes = crypto.randomBytes(300_000);
    const sha = crypto.createHash('sha256').update(bytes).digest('hex');
    const requests: Array<string | undefined> = [];
    const server = http.createServer((req, res) => {
      requests.push(req.headers.range);
      if (req.headers['x-api-key'] !== 'k') return res.writeHead(401).end();
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, { 'content-length': bytes.length - start, ...(m ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}) });
      if (requests.length === 1) {
        // The first answer dies part-way, as over a flaky site link.
        res.write(bytes.subarray(0, 100_000), () => res.destroy());
      } else res.end(bytes.subarray(start));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const dir = tempDir('rwc-cache-');
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cache = new FileCache({ dir, httpUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, apiKey: 'k', maxBytes: 10_000_000, logger: silentLogger() });
    const file = await cache.ensure(sha, bytes.length);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    expect(requests[0]).toBeUndefined();
    expect(requests[1]).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(requests[1]!)![0])).toBeGreaterThan(0);
    // Cached: the next copy needs no request.
    await cache.ensure(sha, bytes.length);
    expect(requests).toHaveLength(2);
    const other = crypto.randomBytes(10);
    await expect(cache.ensure(crypto.createHash('sha256').update(other).digest('hex'), 10)).rejects.toMatchObject({ code: 'file_corrupt' });
  });
});

describe('agent restart', () => {
  it('reports a command that was running when the agent died as not confirmed, and never runs it again', async () => {
    const dataDir = tempDir('rwc-agent-');
    cleanup.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const rec = CommandRecord.open(path.join(dataDir, 'commands'));
    rec.began('job-start-1', 'startJob', Date.now());
    rec.close();
    // No broker to reach: the agent runs on its own.
    const agent = await EdgeAgent.start({ server: 'mqtt://127.0.0.1:9', http: 'http://127.0.0.1:9', key: 'k', agentId: 'a1', dataDir, printers: [], logger: silentLogger() });
    cleanup.push(() => agent.stop());
    expect(agent.record.get('job-start-1')).toMatchObject({ state: 'done', ok: false, error: { code: 'start_not_confirmed' } });
    expect(agent.journal.get(agent.journal.lastSeq)).toMatchObject({ kind: 'result', commandId: 'job-start-1', ok: false, error: { code: 'start_not_confirmed' } });
    expect(agent.linked).toBe(false);
  });
});
