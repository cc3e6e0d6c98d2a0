/**
 * The alerts API on both databases: stored apart from the event log, newest first, paged, counted,
 * acknowledged by an operator (a viewer may only read), kept across a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert } from '../../src/alerts/raise.ts';
import { type TestDialect, type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';

for (const dialect of ['sqlite', 'postgres'] as TestDialect[]) {
  describe(`alerts (${dialect})`, () => {
    let s: TestServer;
    let admin: string;
    let viewer: string;
    beforeAll(async () => {
      s = await startTestServer({ dialect });
      admin = (await setupAdmin(s)).accessToken;
      await s.api('POST', '/api/v1/users', { token: admin, body: { username: 'watcher', password: 'watcher-password', role: 'viewer' } });
      viewer = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'watcher', password: 'watcher-password' } })).body.accessToken;
    }, 30_000);
    afterAll(async () => s?.destroy());

    it('lists, pages, counts and acknowledges; a viewer reads but cannot acknowledge; kept across a restart', async () => {
      const raised = [1, 2, 3].map((i) =>
        raiseAlert(s.infra.bus, { level: 'warning', code: 'printer_error', message: `alert ${i}`, printerId: i === 3 ? 'p-3' : null, params: { i } }),
      );
      const all = await waitFor(async () => {
        const r = await s.api('GET', '/api/v1/alerts?acknowledged=false', { token: viewer });
        return r.body.items.length === 3 && r.body;
      }, 'three alerts');
      expect(all.unacknowledged).toBe(3);
      expect(all.items.map((a: any) => a.id)).toEqual(raised.map((a) => a.id).reverse());
      expect(all.items[0]).toMatchObject({ level: 'warning', code: 'printer_error', params: { i: 3 }, printerId: 'p-3', acknowledgedAt: null, acknowledgedBy: null });
      const page = await s.api('GET', `/api/v1/alerts?limit=1&before=${raised[2]!.id}`, { token: viewer });
      expect(page.body.items.map((a: any) => a.id)).toEqual([raised[1]!.id]);
      expect((await s.api('POST', `/api/v1/alerts/${raised[0]!.id}/acknowledge`, { token: viewer })).status).toBe(403);

      const ack = await s.api('POST', `/api/v1/alerts/${raised[0]!.id}/acknowledge`, { token: admin });
      expect(ack.status).toBe(200);
      expect(ack.body).toMatchObject({ id: raised[0]!.id, acknowledgedBy: 'admin' });
      const again = await s.api('POST', `/api/v1/alerts/${raised[0]!.id}/acknowledge`, { token: admin });
      expect(again.body.acknowledgedAt).toBe(ack.body.acknowledgedAt);
      const byPrinter = await s.api('POST', '/api/v1/alerts/acknowledge-all', { token: admin, body: { printerId: 'p-3' } });
      expect(byPrinter.body).toEqual({ acknowledged: 1 });
      const open = await s.api('GET', '/api/v1/alerts?acknowledged=false', { token: viewer });
      expect(open.body).toMatchObject({ unacknowledged: 1, items: [{ id: raised[1]!.id }] });
      const done = await s.api('GET', '/api/v1/alerts?acknowledged=true', { token: viewer });
      expect(done.body.items.map((a: any) => a.id).sort()).toEqual([raised[0]!.id, raised[2]!.id].sort());
      // The event log keeps its history apart, with a code and params on each entry.
      const log = await s.api('GET', '/api/v1/events?type=alert', { token: viewer });
      expect(log.body[0]).toMatchObject({ type: 'alert', code: 'printer_error', params: { i: 3 }, message: 'alert 3' });

      s = await s.restart();
      admin = (await s.api('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'correct-horse-battery' } })).body.accessToken;
      const after = await s.api('GET', '/api/v1/alerts', { token: admin });
      expect(after.body.items).toHaveLength(3);
      expect(after.body.unacknowledged).toBe(1);
    }, 30_000);
  });
}
