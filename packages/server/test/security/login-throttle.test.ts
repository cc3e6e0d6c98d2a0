/**
 * Login limits (issue 15): attempts count before hashing (a parallel burst is not all checked), per
 * account+address with growing delays, and a failing address never locks the user out elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginRateLimiter } from '../../src/auth/rate-limit.ts';
import { FakeClock } from '../../src/util/clock.ts';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { rawRequest } from './raw-http.ts';

describe('login throttle (pure, fake clock)', () => {
  it('grows the delay after the free attempts, per account and address', () => {
    const clock = new FakeClock(0);
    const t = new LoginRateLimiter(clock, 3, 600_000, { baseDelayMs: 1000 });
    const fail = () => {
      const a = t.begin('root', '10.0.0.1');
      if (!a.ok) return a.retryAfterSeconds;
      t.finish(a.ticket, false);
      return 0;
    };
    expect([fail(), fail(), fail()]).toEqual([0, 0, 0]);
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const wait = fail();
      expect(wait).toBeGreaterThan(0);
      waits.push(wait);
      clock.advance(wait * 1000);
      expect(fail()).toBe(0);
    }
    expect(waits).toEqual([1, 2, 4, 8, 16]);
    // Another address for the same account is not slowed down.
    expect(t.begin('root', '10.0.0.2').ok).toBe(true);
  });

  it('counts attempts still being checked', () => {
    const t = new LoginRateLimiter(new FakeClock(0), 5, 60_000);
    const results = Array.from({ length: 60 }, () => t.begin('root', '10.0.0.9'));
    expect(results.filter((r) => r.ok)).toHaveLength(5);
  });

  it('a success clears the account and address', () => {
    const clock = new FakeClock(0);
    const t = new LoginRateLimiter(clock, 2, 60_000);
    for (let i = 0; i < 2; i++) {
      const a = t.begin('root', 'x');
      if (a.ok) t.finish(a.ticket, false);
    }
    expect(t.begin('root', 'x').ok).toBe(false);
    clock.advance(2000);
    const a = t.begin('root', 'x');
    expect(a.ok).toBe(true);
    if (a.ok) t.finish(a.ticket, true);
    expect(t.begin('root', 'x').ok).toBe(true);
  });
});

describe('login throttle over HTTP', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ config: { loginMaxFailures: 5, loginWindowSeconds: 300 } });
    await setupAdmin(s, 'root', 'root-password');
  });
  afterAll(async () => s?.destroy());

  const attempt = (password: string, localAddress = '127.0.0.1') =>
    rawRequest(s.port, 'POST', '/api/v1/auth/login', { 'content-type': 'application/json' }, JSON.stringify({ username: 'root', password }), {
      localAddress,
      timeoutMs: 60_000,
    });

  it('checks at most the allowance of 60 parallel wrong passwords; the rest are 429 at once', async () => {
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => attempt(`wrong-${i}-password`)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((c) => c === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((c) => c === 429).length).toBeGreaterThanOrEqual(55);
    expect(statuses.every((c) => c === 401 || c === 429)).toBe(true);
    const limited = results.find((r) => r.status === 429)!;
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(limited.body).error.code).toBe('too_many_attempts');
  });

  it('does not lock the real user out from another address', async () => {
    expect((await attempt('root-password')).status).toBe(429);
    const elsewhere = await attempt('root-password', '127.0.0.2');
    expect(elsewhere.status).toBe(200);
    expect(JSON.parse(elsewhere.body).accessToken).toBeTypeOf('string');
  });
});
