/**
 * Analysis tasks for detectors that live elsewhere: seed 002's asynchronous service (§4.2–4.3:
 * `POST {service}/api/v1/predict {image_url, task_id, callback_url}`, result later at our
 * `POST /api/v1/ai/callback`) and Obico's ML API (which downloads the image itself).
 *
 * Each task gets a random single-use credential (32 bytes, base64url). It rides in the image URL
 * and the callback URL we hand out (`?token=`), so any service that follows the seed works without
 * knowing us; a service may instead send it as `Authorization: Bearer <token>` or sign the raw
 * body: `X-RWC-Signature: sha256=<hex HMAC-SHA256(token, body)>`. Only its SHA-256 is stored. A
 * callback without a credential is 401, with a wrong one or for a task we never issued 403, and
 * a second callback for a finished task (a replay) 409. Tasks still pending when the server
 * restarts are expired: the caller that waited for them is gone.
 */
import crypto from 'node:crypto';
import { DomainError, badRequest, unauthorized } from '../errors.ts';
import type { Db } from '../storage/schema.ts';
import type { Clock, TimerHandle } from '../util/clock.ts';

/** The body the service posts to the callback (seed 002 §4.3, api.md Additions). */
export interface SeedCallbackBody {
  task_id: string;
  status: 'success' | 'error';
  message?: string;
  result?: {
    predict_model?: string;
    has_defect?: boolean;
    defect_type?: string | null;
    confidence?: number;
    detections?: Array<{ label?: string; confidence?: number; box?: number[] }>;
  };
}

interface Pending {
  token: string;
  jpeg: Buffer;
  timer: TimerHandle | null;
  resolve: (body: SeedCallbackBody) => void;
  reject: (err: Error) => void;
}

export interface IssuedTask {
  id: string;
  token: string;
  /** Where the service downloads the frame (public route, task credential in the query). */
  imageUrl: string;
  /** Where the service posts the result. */
  callbackUrl: string;
  /** Settles with the callback body, or rejects on timeout/cancel. */
  result: Promise<SeedCallbackBody>;
}

const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

export class TaskBroker {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #pending = new Map<string, Pending>();
  /** The server's URL as an outside service reaches it (RWC_PUBLIC_URL, else the listening address). */
  baseUrl: string;

  constructor(opts: { db: Db; clock: Clock; baseUrl?: string }) {
    this.#db = opts.db;
    this.#clock = opts.clock;
    this.baseUrl = opts.baseUrl ?? 'http://127.0.0.1:8080';
  }

  /** Marks tasks left pending by a previous run as expired (their waiter is gone). */
  async start(): Promise<void> {
    await this.#db
      .updateTable('vision_tasks')
      .set({ status: 'expired', finished_at: new Date(this.#clock.now()).toISOString() })
      .where('status', '=', 'pending')
      .execute();
  }

  stop(): void {
    for (const [id, p] of this.#pending) {
      this.#clock.clearTimeout(p.timer);
      p.reject(new Error('the server is stopping'));
      this.#pending.delete(id);
    }
  }

  /** Issues a task for one frame; `timeoutMs` bounds how long the result may take. */
  async create(opts: {
    detector: string;
    printerId: string | null;
    jpeg: Buffer;
    timeoutMs: number;
    signal?: AbortSignal;
  }): Promise<IssuedTask> {
    const now = this.#clock.now();
    const stamp = new Date(now).toISOString().replace(/\D/g, '').slice(0, 14);
    const id = `PT${stamp}${crypto.randomBytes(5).toString('hex')}`;
    const token = crypto.randomBytes(32).toString('base64url');
    await this.#db
      .insertInto('vision_tasks')
      .values({
        id,
        detector: opts.detector,
        printer_id: opts.printerId,
        frame_id: null,
        token_hash: sha256(token),
        status: 'pending',
        created_at: new Date(now).toISOString(),
        expires_at: new Date(now + opts.timeoutMs).toISOString(),
        finished_at: null,
        result_json: null,
      })
      .execute();
    let resolve!: Pending['resolve'];
    let reject!: Pending['reject'];
    const result = new Promise<SeedCallbackBody>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    result.catch(() => {}); // the caller may give up first; never an unhandled rejection
    const pending: Pending = { token, jpeg: opts.jpeg, timer: null, resolve, reject };
    this.#pending.set(id, pending);
    const fail = (reason: string) => {
      if (!this.#pending.has(id)) return;
      this.#pending.delete(id);
      this.#clock.clearTimeout(pending.timer);
      void this.#finish(id, 'expired', null);
      reject(new Error(reason));
    };
    pending.timer = this.#clock.setTimeout(
      () => fail(`no result within ${Math.round(opts.timeoutMs / 1000)} s`),
      opts.timeoutMs,
    );
    opts.signal?.addEventListener('abort', () => fail('analysis cancelled'), { once: true });
    const q = `token=${encodeURIComponent(token)}`;
    return {
      id,
      token,
      imageUrl: `${this.baseUrl}/api/v1/ai/tasks/${id}/image.jpg?${q}`,
      callbackUrl: `${this.baseUrl}/api/v1/ai/callback?${q}`,
      result,
    };
  }

  /** Ends a task early (the detector gave up, e.g. the service refused the request). */
  cancel(id: string, reason: string, status: 'error' | 'done' = 'error'): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    this.#clock.clearTimeout(p.timer);
    void this.#finish(id, status, JSON.stringify({ reason }));
    p.reject(new Error(reason));
  }

  #checkToken(id: string, token: string | undefined): Pending {
    const p = this.#pending.get(id);
    if (!token) throw unauthorized('this task needs its credential (?token=, Bearer or X-RWC-Signature)');
    if (!p || !safeEqual(sha256(token), sha256(p.token))) {
      throw new DomainError('forbidden', 'bad_task_credential', 'the credential does not belong to a pending task');
    }
    return p;
  }

  /** The frame of a pending task, for the service that analyses it. */
  image(id: string, token: string | undefined): Buffer {
    return this.#checkToken(id, token).jpeg;
  }

  /**
   * Accepts a callback. `credential` is the token (query or Bearer) and/or the signature header
   * with the raw body it signs. Throws 400/401/403/409 as described at the top of this file.
   */
  async callback(
    body: SeedCallbackBody,
    credential: { token?: string; signature?: string; rawBody?: string },
  ): Promise<void> {
    if (!body || typeof body.task_id !== 'string' || !body.task_id)
      throw badRequest('body.task_id is required', 'validation_error', { field: 'task_id' });
    if (body.status !== 'success' && body.status !== 'error')
      throw badRequest('body.status must be "success" or "error"');
    const id = body.task_id;
    if (!credential.token && !credential.signature) {
      throw unauthorized('this callback needs the credential issued for its task (?token=, Bearer or X-RWC-Signature)');
    }
    const row = await this.#db
      .selectFrom('vision_tasks')
      .select(['status', 'token_hash'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new DomainError('forbidden', 'unknown_task', `no task ${id} was issued`);
    const p = this.#pending.get(id);
    let ok = false;
    if (credential.token) ok = safeEqual(sha256(credential.token), row.token_hash);
    else if (credential.signature && p && credential.rawBody !== undefined) {
      const want = `sha256=${crypto.createHmac('sha256', p.token).update(credential.rawBody).digest('hex')}`;
      ok = safeEqual(credential.signature.trim().toLowerCase(), want);
    }
    if (!ok) throw new DomainError('forbidden', 'bad_task_credential', 'the credential does not belong to this task');
    if (row.status !== 'pending' || !p) {
      throw new DomainError(
        'conflict',
        'task_finished',
        `task ${id} is already ${row.status === 'pending' ? 'closed' : row.status}; a result is taken once`,
      );
    }
    this.#pending.delete(id);
    this.#clock.clearTimeout(p.timer);
    await this.#finish(id, body.status === 'success' ? 'done' : 'error', JSON.stringify(body).slice(0, 100_000));
    p.resolve(body);
  }

  async #finish(id: string, status: string, result: string | null): Promise<void> {
    await this.#db
      .updateTable('vision_tasks')
      .set({ status, finished_at: new Date(this.#clock.now()).toISOString(), result_json: result })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .execute()
      .catch(() => {});
  }

  get pendingCount(): number {
    return this.#pending.size;
  }
}
