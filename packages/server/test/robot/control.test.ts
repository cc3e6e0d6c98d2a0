/**
 * Who may talk to the robot, over real sockets: the handshake refuses missing, forged, expired and
 * query-string credentials; one controller at a time (a second is refused naming the holder and
 * since when), takeover runs stop() and disconnects the old controller, viewers observe pushes
 * read-only, a disconnect runs stop() while the worker stays loaded (reconnect keeps state), revoked
 * credentials close their sockets, and the deadman stops a motion when the controller goes silent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../src/alerts/raise.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { type RobotTestServer, ask, collect, connectRobot, processCall, startRobotServer } from './helpers.ts';

let r: RobotTestServer;
const open: Socket[] = [];
const connect = async (opts: Parameters<typeof connectRobot>[1]) => {
  const s = await connectRobot(r.s.url, opts);
  open.push(s);
  return s;
};
const status = async () => (await r.s.api('GET', '/api/v1/robot', { token: r.admin })).body;
const refusal = (opts: Parameters<typeof connectRobot>[1]) =>
  connectRobot(r.s.url, opts).then(
    (s) => {
      s.close();
      throw new Error('connected, but should have been refused');
    },
    (err: Error & { data?: any }) => err,
  );
const alerts: AlertEvent[] = [];

beforeAll(async () => {
  r = await startRobotServer({ robotDeadmanMs: 1500 });
  r.s.infra.bus.on('alert', {}, (a) => alerts.push(a));
}, 60_000);
afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  await waitFor(async () => (await status()).controller === null, 'control released');
});
afterAll(async () => {
  await r?.s.destroy();
});

describe('handshake credentials', () => {
  it('refuses no token, a forged token, an expired token, a bad API key and a token in the query string', async () => {
    expect(await refusal({})).toMatchObject({ message: expect.stringMatching(/auth\.token/), data: { code: 'unauthorized' } });
    const forged = await new SignJWT({ role: 'admin', username: 'mallory' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setIssuer('realworldclaw')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-server-key-not-the-server-key'));
    expect(await refusal({ token: forged })).toMatchObject({ data: { code: 'invalid_token' } });
    const key = Buffer.from(fs.readFileSync(path.join(r.s.dataDir, 'jwt.key'), 'utf8').trim(), 'base64');
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ role: 'admin', username: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setIssuer('realworldclaw')
      .setIssuedAt(now - 3600)
      .setExpirationTime(now - 60)
      .sign(new Uint8Array(key));
    expect(await refusal({ token: expired })).toMatchObject({ message: expect.stringMatching(/expired/), data: { code: 'token_expired' } });
    expect(await refusal({ token: 'rwc_not-a-real-key' })).toMatchObject({ data: { code: 'invalid_api_key' } });
    expect(await refusal({ query: { token: r.operator } })).toMatchObject({ message: expect.stringMatching(/query string/), data: { code: 'query_credentials' } });
    // Polling transport: the same refusal.
    expect(await refusal({ transports: ['polling'] })).toMatchObject({ data: { code: 'unauthorized' } });
    expect((await status()).controller).toBeNull();
  });

  it('accepts an API key; the default namespace is refused with a pointer to /robot', async () => {
    const created = await r.s.api('POST', '/api/v1/api-keys', { token: r.admin, body: { name: 'bot', role: 'operator' } });
    const c = await connect({ token: created.body.key });
    expect((await processCall(c, 'sport_client', 'GetState')).status).toBe('success');
    expect((await status()).controller).toMatchObject({ username: 'bot', via: 'api-key' });
    const { io } = await import('socket.io-client');
    const root = io(r.s.url, { auth: { token: r.operator }, transports: ['websocket'], reconnection: false, forceNew: true });
    const err = await new Promise<Error & { data?: any }>((resolve) => root.once('connect_error', resolve));
    root.close();
    expect(err).toMatchObject({ message: expect.stringMatching(/\/robot namespace/), data: { code: 'wrong_namespace' } });
  });
});

describe('one controller at a time', () => {
  it('refuses a second controller naming who holds control and since when', async () => {
    const first = await connect({ token: r.operator });
    await waitFor(async () => (await status()).controller?.username === 'olga', 'olga in control');
    const err = await refusal({ token: r.operator2 });
    expect(err.data).toMatchObject({ code: 'robot_busy', holder: { username: 'olga', role: 'operator', since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } });
    expect(err.message).toMatch(/controlled by olga since \d{4}-.*takeover/);
    expect(first.connected).toBe(true);
    expect((await processCall(first, 'sport_client', 'GetState')).status).toBe('success');
  });

  it('takeover runs stop() on the moving robot and disconnects the old controller', async () => {
    const olga = await connect({ token: r.operator });
    await processCall(olga, 'sport_client', 'StandUp');
    expect((await processCall(olga, 'sport_client', 'Move', { vx: 0.5 })).data.vx).toBe(0.5);
    const takenOver = new Promise<any>((resolve) => olga.once('robot.taken_over', resolve));
    const gone = new Promise<void>((resolve) => olga.once('disconnect', () => resolve()));
    const oscar = await connect({ token: r.operator2, takeover: true });
    expect(await takenOver).toMatchObject({ by: 'oscar' });
    await gone;
    const state = (await processCall(oscar, 'sport_client', 'GetState')).data.state;
    expect(state).toMatchObject({ vx: 0, mode: 'standing' }); // stopped by stop(), still standing
    expect((await status()).controller).toMatchObject({ username: 'oscar' });
  });

  it('a viewer observes: receives pushes and state, cannot command or e-stop', async () => {
    const vera = await connect({ token: r.viewer });
    const telemetry = collect(vera, 'telemetry');
    const states = collect(vera, 'robot.state');
    const olga = await connect({ token: r.operator });
    await processCall(olga, 'sport_client', 'GetState');
    await waitFor(() => telemetry.length >= 3, 'telemetry pushes at the observer');
    await waitFor(() => states.some((s) => s.controller?.username === 'olga' && s.you.controller === false), 'state naming the controller');
    expect(await processCall(vera, 'sport_client', 'StandUp')).toMatchObject({ status: 'error', data: { code: 'not_controller' }, message: expect.stringMatching(/olga has it/) });
    expect(await ask(vera, 'estop')).toMatchObject({ status: 'error', data: { code: 'forbidden' } });
    expect(await ask(vera, 'take_control', { takeover: true })).toMatchObject({ status: 'error', data: { code: 'forbidden' } });
    expect(await ask(vera, 'update', { data: 'UEsFBg==' })).toMatchObject({ status: 'error', data: { code: 'not_controller' } });
  });

  it('an operator may observe, e-stop as an observer, and take control by event', async () => {
    const olga = await connect({ token: r.operator });
    const oscar = await connect({ token: r.operator2, observe: true });
    await processCall(olga, 'sport_client', 'StandUp');
    await processCall(olga, 'sport_client', 'Move', { vx: 0.4 });
    const stopped = collect(olga, 'robot.stopped');
    expect(await ask(oscar, 'estop')).toMatchObject({ status: 'success', data: { outcome: 'stopped', ran: ['sport_client.stop'] } });
    await waitFor(() => stopped.some((s) => s.reason === 'estop' && s.by === 'oscar'), 'robot.stopped at the controller');
    expect((await processCall(olga, 'sport_client', 'GetState')).data.state.vx).toBe(0);
    expect(await ask(oscar, 'take_control', {})).toMatchObject({ status: 'error', data: { code: 'robot_busy', holder: { username: 'olga' } } });
    expect(await ask(oscar, 'take_control', { takeover: true })).toMatchObject({ status: 'success' });
    await waitFor(() => !olga.connected, 'olga disconnected');
    expect((await processCall(oscar, 'sport_client', 'GetState')).status).toBe('success');
  });
});

describe('disconnect, reconnect, revocation', () => {
  it('disconnect runs stop(); the worker stays loaded and a reconnect finds the same state', async () => {
    const watcher = await connect({ token: r.viewer });
    const stops = collect(watcher, 'robot.stopped');
    const olga = await connect({ token: r.operator });
    await processCall(olga, 'sport_client', 'StandUp');
    await processCall(olga, 'sport_client', 'Move', { vx: 0.3, vyaw: 0.2 });
    await waitFor(async () => (await processCall(olga, 'sport_client', 'GetState')).data.state.odometer > 0.01, 'the dog walking');
    const pid = (await status()).worker.pid;
    olga.close();
    await waitFor(() => stops.find((s) => s.reason === 'disconnect'), 'stop() after the disconnect');
    expect(stops.find((s) => s.reason === 'disconnect')).toMatchObject({ by: 'olga', outcome: 'stopped', ran: ['sport_client.stop'] });
    const again = await connect({ token: r.operator });
    const state = (await processCall(again, 'sport_client', 'GetState')).data.state;
    expect(state).toMatchObject({ mode: 'standing', vx: 0, vyaw: 0 });
    expect(state.odometer).toBeGreaterThan(0);
    expect((await status()).worker).toMatchObject({ pid, state: 'ready' });
  });

  it('revoked credentials (auth.revoked) disconnect their sockets and free control', async () => {
    const olga = await connect({ token: r.operator });
    const vera = await connect({ token: r.viewer });
    await waitFor(async () => (await status()).controller?.username === 'olga', 'olga in control');
    const olgaId = (await r.s.auth.verifyAccessToken(r.operator)).id;
    const revoked = new Promise<any>((resolve) => olga.once('robot.revoked', resolve));
    r.s.infra.bus.emit('auth.revoked', { userId: olgaId, reason: 'password changed' });
    expect(await revoked).toEqual({ reason: 'password changed' });
    await waitFor(() => !olga.connected, 'olga disconnected');
    await waitFor(async () => (await status()).controller === null, 'control freed');
    expect(vera.connected).toBe(true);

    const key = await r.s.api('POST', '/api/v1/api-keys', { token: r.admin, body: { name: 'script', role: 'operator' } });
    const bot = await connect({ token: key.body.key });
    r.s.infra.bus.emit('auth.revoked', { apiKeyId: key.body.id, reason: 'key deleted' });
    await waitFor(() => !bot.connected, 'API-key socket disconnected');
    expect(vera.connected).toBe(true);
  });
});

describe('deadman', () => {
  it('stops a motion when the controller goes silent; heartbeats keep it going', async () => {
    const olga = await connect({ token: r.operator });
    const stops = collect(olga, 'robot.stopped');
    await processCall(olga, 'sport_client', 'StandUp');
    await processCall(olga, 'sport_client', 'Move', { vx: 0.5 });
    // Heartbeats every 100 ms for 2.5 s (longer than the 1.5 s deadman): still walking.
    for (let t = 0; t < 25; t++) {
      await ask(olga, 'heartbeat');
      await sleep(100);
    }
    expect(stops).toEqual([]);
    expect((await processCall(olga, 'sport_client', 'GetState')).data.state).toMatchObject({ mode: 'moving', vx: 0.5 });
    // Silence: the deadman runs stop().
    const before = alerts.length;
    await waitFor(() => stops.find((s) => s.reason === 'deadman'), 'deadman stop', 20_000);
    expect(olga.connected).toBe(true);
    expect((await processCall(olga, 'sport_client', 'GetState')).data.state).toMatchObject({ mode: 'standing', vx: 0 });
    expect(alerts.slice(before).map((a) => a.code)).toContain('robot_deadman_stop');
  });

  it('is not armed by calls that do not move the robot', async () => {
    const olga = await connect({ token: r.operator });
    const stops = collect(olga, 'robot.stopped');
    await processCall(olga, 'sport_client', 'GetState');
    await sleep(2500);
    expect(stops).toEqual([]);
    expect((await status()).deadman).toEqual({ armed: false, timeoutMs: 1500 });
  });
});
