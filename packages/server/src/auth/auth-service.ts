import crypto from 'node:crypto';
import { type JWTPayload, SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { DomainError, badRequest, conflict, notFound, unauthorized } from '../errors.ts';
import type { EventBus } from '../events/bus.ts';
import type { Db, Dialect } from '../storage/schema.ts';
import type { Clock } from '../util/clock.ts';
import { dummyHashPromise, hashPassword, hashToken, randomToken, verifyPassword } from './passwords.ts';
import { AGENT_ROLE, type AuthUser, type CredentialRole, type Role, isCredentialRole, isRole, minRole } from './roles.ts';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface UserRecord {
  id: string;
  username: string;
  role: Role;
  createdAt: string;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: CredentialRole;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** Who made the key; keys are revoked with their maker. Null for keys made before this was kept. */
  createdBy: { id: string; username: string } | null;
}

const ISSUER = 'realworldclaw';
const SETUP_DONE = 'auth.setupDone';

interface UserState {
  username: string;
  role: Role;
  tokenVersion: number;
}

interface KeyState {
  id: string;
  name: string;
  role: CredentialRole;
  ownerId: string | null;
  /** The maker's current role, which caps the key's. */
  ownerRole: Role | null;
}

/**
 * Users, access tokens (short-lived JWT, HS256), refresh tokens (opaque, stored hashed, rotated on
 * every use; reusing a rotated one revokes its whole family) and API keys (stored hashed, shown once).
 */
export class AuthService {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #jwtKey: Uint8Array;
  readonly #accessTtl: number;
  readonly #refreshTtl: number;
  readonly #dialect: Dialect;
  readonly #bus: EventBus | null;
  /**
   * Credential lookups cached in this process (SQLite only: one process owns the file, and every
   * change goes through this service, which clears the caches). With PostgreSQL several processes
   * share the users, so every request reads its user or key again (one indexed row): a revocation
   * made by another process must count on the next request too.
   */
  readonly #cacheEnabled: boolean;
  readonly #users = new Map<string, UserState | null>();
  readonly #keys = new Map<string, KeyState | null>();

  constructor(opts: {
    db: Db;
    clock: Clock;
    jwtKey: Buffer;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
    dialect?: Dialect;
    bus?: EventBus;
  }) {
    this.#db = opts.db;
    this.#clock = opts.clock;
    this.#jwtKey = new Uint8Array(opts.jwtKey);
    this.#accessTtl = opts.accessTtlSeconds;
    this.#refreshTtl = opts.refreshTtlSeconds;
    this.#dialect = opts.dialect ?? 'sqlite';
    this.#bus = opts.bus ?? null;
    this.#cacheEnabled = this.#dialect === 'sqlite';
  }

  #forget(): void {
    this.#users.clear();
    this.#keys.clear();
  }

  #revoked(what: { userId?: string; apiKeyId?: string }, reason: string): void {
    this.#forget();
    this.#bus?.emit('auth.revoked', { ...what, reason });
  }

  #iso(ms = this.#clock.now()): string {
    return new Date(ms).toISOString();
  }

  /** True until the first admin is made; never again after (even if every user were gone). */
  async setupNeeded(): Promise<boolean> {
    const done = await this.#db.selectFrom('kv').select('key').where('key', '=', SETUP_DONE).executeTakeFirst();
    if (done) return false;
    const row = await this.#db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    return !row;
  }

  /**
   * Creates the first admin and marks setup done, in one transaction. The kv row's primary key
   * makes two racing setups conflict even on PostgreSQL (READ COMMITTED): only one commits.
   */
  async setup(username: string, password: string): Promise<UserRecord> {
    if (!(await this.setupNeeded())) throw conflict('setup is already done: log in instead', 'setup_done');
    const passwordHash = await hashPassword(password);
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const done = await trx.selectFrom('kv').select('key').where('key', '=', SETUP_DONE).executeTakeFirst();
        const any = await trx.selectFrom('users').select('id').limit(1).executeTakeFirst();
        if (done || any) throw conflict('setup is already done: log in instead', 'setup_done');
        await trx.insertInto('kv').values({ key: SETUP_DONE, value: this.#iso() }).execute();
        return this.#insertUser(trx, username, passwordHash, 'admin');
      });
    } catch (err) {
      if (err instanceof DomainError) throw err;
      // The other setup committed first (unique key).
      if (!(await this.setupNeeded())) throw conflict('setup is already done: log in instead', 'setup_done');
      throw err;
    }
  }

  async createUser(username: string, password: string, role: Role): Promise<UserRecord> {
    const passwordHash = await hashPassword(password);
    const exists = await this.#db.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
    if (exists) throw conflict(`a user named "${username}" already exists`, 'user_exists');
    return this.#insertUser(this.#db, username, passwordHash, role);
  }

  async #insertUser(db: Db, username: string, passwordHash: string, role: Role): Promise<UserRecord> {
    const user = { id: crypto.randomUUID(), username, password_hash: passwordHash, role, created_at: this.#iso() };
    await db.insertInto('users').values(user).execute();
    return { id: user.id, username, role, createdAt: user.created_at };
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, username: r.username, role: r.role as Role, createdAt: r.created_at }));
  }

  /**
   * Runs `fn` with the admins locked (PostgreSQL: FOR UPDATE; SQLite transactions are serial), so
   * two requests cannot each remove one of the last two admins.
   */
  async #withAdminsLocked<T>(fn: (trx: Db, admins: string[]) => Promise<T>): Promise<T> {
    return this.#db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('users').select('id').where('role', '=', 'admin');
      if (this.#dialect === 'postgres') q = q.forUpdate();
      const admins = (await q.execute()).map((r) => r.id);
      return fn(trx, admins);
    });
  }

  static #lastAdmin() {
    return conflict('this is the last admin: make another user admin first', 'last_admin');
  }

  /**
   * Deletes a user, their sessions and the API keys they made; their credentials stop working on
   * the next request and their sockets close (auth.revoked). The last admin cannot be deleted (409).
   */
  async deleteUser(id: string): Promise<void> {
    const keyIds = await this.#withAdminsLocked(async (trx, admins) => {
      const user = await trx.selectFrom('users').select(['id', 'role']).where('id', '=', id).executeTakeFirst();
      if (!user) throw notFound('user');
      if (user.role === 'admin' && admins.length <= 1) throw AuthService.#lastAdmin();
      const keys = await trx.selectFrom('api_keys').select('id').where('created_by', '=', id).execute();
      await trx.deleteFrom('api_keys').where('created_by', '=', id).execute();
      await trx.deleteFrom('refresh_tokens').where('user_id', '=', id).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
      return keys.map((k) => k.id);
    });
    this.#revoked({ userId: id }, 'user deleted');
    for (const apiKeyId of keyIds) this.#revoked({ apiKeyId }, 'its user was deleted');
  }

  /**
   * Changes a user's role and/or password (admin). A new password ends all their sessions; a new
   * role applies on their next request (roles are read per request). The last admin keeps the role.
   */
  async updateUser(id: string, patch: { role?: Role; password?: string }): Promise<UserRecord> {
    if (patch.password !== undefined && patch.password.length < 8) {
      throw badRequest('body.password must be at least 8 characters');
    }
    const passwordHash = patch.password !== undefined ? await hashPassword(patch.password) : null;
    const updated = await this.#withAdminsLocked(async (trx, admins) => {
      const user = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!user) throw notFound('user');
      if (patch.role && patch.role !== 'admin' && user.role === 'admin' && admins.length <= 1) throw AuthService.#lastAdmin();
      const role = patch.role ?? (user.role as Role);
      let q = trx.updateTable('users').set({ role }).where('id', '=', id);
      if (passwordHash) {
        q = q.set((eb) => ({ password_hash: passwordHash, token_version: eb('token_version', '+', 1) }));
        await trx.deleteFrom('refresh_tokens').where('user_id', '=', id).execute();
      }
      await q.execute();
      return { id, username: user.username, role, createdAt: user.created_at } satisfies UserRecord;
    });
    if (passwordHash) this.#revoked({ userId: id }, 'password changed');
    else if (patch.role) this.#revoked({ userId: id }, 'role changed');
    return updated;
  }

  /** A user changes their own password: every other session ends; the caller gets fresh tokens. */
  async changeOwnPassword(userId: string, currentPassword: string, newPassword: string): Promise<TokenPair> {
    if (newPassword.length < 8) throw badRequest('body.newPassword must be at least 8 characters');
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    if (!row) throw unauthorized('the user no longer exists', 'token_revoked');
    if (!(await verifyPassword(currentPassword, row.password_hash))) {
      throw new DomainError('invalid', 'wrong_password', 'body.currentPassword is not your current password', { field: 'currentPassword' });
    }
    const passwordHash = await hashPassword(newPassword);
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set((eb) => ({ password_hash: passwordHash, token_version: eb('token_version', '+', 1) }))
        .where('id', '=', userId)
        .execute();
      await trx.deleteFrom('refresh_tokens').where('user_id', '=', userId).execute();
    });
    this.#revoked({ userId }, 'password changed');
    return this.issueTokens({ id: row.id, username: row.username, role: row.role as Role, createdAt: row.created_at });
  }

  /** Returns the user for valid credentials, null otherwise (same timing either way). */
  async checkPassword(username: string, password: string): Promise<UserRecord | null> {
    const row = await this.#db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    if (!row) {
      await verifyPassword(password, await dummyHashPromise);
      return null;
    }
    if (!(await verifyPassword(password, row.password_hash))) return null;
    return { id: row.id, username: row.username, role: row.role as Role, createdAt: row.created_at };
  }

  async issueTokens(user: UserRecord, familyId: string = crypto.randomUUID()): Promise<TokenPair> {
    const now = this.#clock.now();
    const state = await this.#userState(user.id);
    if (!state) throw unauthorized('the user no longer exists', 'token_revoked');
    const accessToken = await new SignJWT({ role: state.role, username: user.username, tv: state.tokenVersion })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer(ISSUER)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + this.#accessTtl)
      .setJti(crypto.randomUUID())
      .sign(this.#jwtKey);
    const refreshToken = randomToken('rwcr_');
    await this.#db
      .insertInto('refresh_tokens')
      .values({
        id: crypto.randomUUID(),
        user_id: user.id,
        token_hash: hashToken(refreshToken),
        family_id: familyId,
        expires_at: this.#iso(now + this.#refreshTtl * 1000),
        revoked_at: null,
        replaced_by: null,
        created_at: this.#iso(now),
      })
      .execute();
    return { accessToken, refreshToken, expiresIn: this.#accessTtl };
  }

  /** Rotates a refresh token: the old one stops working; replaying it revokes the whole family. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    const hash = hashToken(refreshToken);
    const row = await this.#db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    if (!row) throw unauthorized('refresh token is not valid', 'invalid_refresh_token');
    if (row.revoked_at || row.replaced_by) {
      // A rotated token came back: someone holds a copy. Revoke every token of this login.
      await this.revokeFamily(row.family_id);
      throw unauthorized('refresh token was already used or revoked; log in again', 'refresh_token_reused');
    }
    if (row.expires_at <= this.#iso()) throw unauthorized('refresh token expired; log in again', 'refresh_token_expired');
    const user = await this.#db.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirst();
    if (!user) throw unauthorized('the user no longer exists', 'invalid_refresh_token');
    const record: UserRecord = { id: user.id, username: user.username, role: user.role as Role, createdAt: user.created_at };
    // Mark replaced first and only if still current: two concurrent refreshes cannot both rotate.
    const marked = await this.#db
      .updateTable('refresh_tokens')
      .set({ replaced_by: 'pending', revoked_at: this.#iso() })
      .where('id', '=', row.id)
      .where('replaced_by', 'is', null)
      .executeTakeFirst();
    if (!marked.numUpdatedRows) throw unauthorized('refresh token was already used; log in again', 'refresh_token_reused');
    return this.issueTokens(record, row.family_id);
  }

  /** Logout: the refresh token (and its whole family) stops working. Only the owner's own tokens. */
  async revokeRefreshToken(refreshToken: string, ownerId?: string | null): Promise<void> {
    const row = await this.#db
      .selectFrom('refresh_tokens')
      .select(['family_id', 'user_id'])
      .where('token_hash', '=', hashToken(refreshToken))
      .executeTakeFirst();
    if (row && (ownerId === undefined || row.user_id === ownerId)) await this.revokeFamily(row.family_id);
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.#db
      .updateTable('refresh_tokens')
      .set({ revoked_at: this.#iso() })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async verifyAccessToken(token: string): Promise<AuthUser> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwtKey, {
        issuer: ISSUER,
        algorithms: ['HS256'],
        currentDate: new Date(this.#clock.now()),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw unauthorized('access token expired: refresh it', 'token_expired');
      throw unauthorized('access token is not valid', 'invalid_token');
    }
    if (!payload.sub || !isRole(payload.role)) throw unauthorized('access token is malformed', 'invalid_token');
    // The signature only says the token was issued: the user must still exist with the same
    // token version (password unchanged), and the role is the current one. A database error here
    // propagates as itself (503), never as "invalid token".
    const state = await this.#userState(payload.sub);
    if (!state) throw unauthorized('the user of this token no longer exists', 'token_revoked');
    const tv = typeof payload.tv === 'number' ? payload.tv : 0;
    if (tv !== state.tokenVersion) throw unauthorized('this session was ended (password changed); log in again', 'token_revoked');
    return { id: payload.sub, username: state.username, role: state.role, via: 'jwt', ownerId: payload.sub };
  }

  async #userState(id: string): Promise<UserState | null> {
    if (this.#cacheEnabled && this.#users.has(id)) return this.#users.get(id)!;
    const row = await this.#db
      .selectFrom('users')
      .select(['username', 'role', 'token_version'])
      .where('id', '=', id)
      .executeTakeFirst();
    const state = row && isRole(row.role) ? { username: row.username, role: row.role, tokenVersion: Number(row.token_version) } : null;
    if (this.#cacheEnabled) this.#remember(this.#users, id, state);
    return state;
  }

  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    // Bounded: a flood of forged keys cannot grow it without limit.
    if (map.size >= 10_000) map.clear();
    map.set(key, value);
  }

  async createApiKey(name: string, role: CredentialRole, createdBy: string | null): Promise<ApiKeyRecord & { key: string }> {
    const key = randomToken('rwc_');
    const rec = {
      id: crypto.randomUUID(),
      name,
      role,
      key_hash: hashToken(key),
      prefix: key.slice(0, 8),
      created_by: createdBy,
      created_at: this.#iso(),
      last_used_at: null,
    };
    await this.#db.insertInto('api_keys').values(rec).execute();
    const maker = createdBy
      ? await this.#db.selectFrom('users').select(['id', 'username']).where('id', '=', createdBy).executeTakeFirst()
      : undefined;
    return {
      id: rec.id,
      name,
      role,
      prefix: rec.prefix,
      createdAt: rec.created_at,
      lastUsedAt: null,
      createdBy: maker ? { id: maker.id, username: maker.username } : null,
      key,
    };
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const rows = await this.#db
      .selectFrom('api_keys')
      .leftJoin('users', 'users.id', 'api_keys.created_by')
      .selectAll('api_keys')
      .select(['users.username as creator_name'])
      .orderBy('api_keys.created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role as CredentialRole,
      prefix: r.prefix,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      createdBy: r.created_by && r.creator_name ? { id: r.created_by, username: r.creator_name } : null,
    }));
  }

  async deleteApiKey(id: string): Promise<void> {
    const res = await this.#db.deleteFrom('api_keys').where('id', '=', id).executeTakeFirst();
    if (!res.numDeletedRows) throw notFound('API key');
    this.#revoked({ apiKeyId: id }, 'API key revoked');
  }

  #lastUsedWrites = new Map<string, number>();

  async #keyState(hash: string): Promise<KeyState | null> {
    if (this.#cacheEnabled && this.#keys.has(hash)) return this.#keys.get(hash)!;
    const row = await this.#db
      .selectFrom('api_keys')
      .leftJoin('users', 'users.id', 'api_keys.created_by')
      .select(['api_keys.id', 'api_keys.name', 'api_keys.role', 'api_keys.created_by', 'users.role as owner_role'])
      .where('api_keys.key_hash', '=', hash)
      .executeTakeFirst();
    let state: KeyState | null = null;
    // A key whose maker is gone is dead (deleteUser removes them; this covers a crash in between).
    if (row && isCredentialRole(row.role) && (!row.created_by || isRole(row.owner_role))) {
      state = {
        id: row.id,
        name: row.name,
        role: row.role,
        ownerId: row.created_by,
        ownerRole: isRole(row.owner_role) ? row.owner_role : null,
      };
    }
    if (this.#cacheEnabled) this.#remember(this.#keys, hash, state);
    return state;
  }

  /** The key's user; its role is capped by its maker's current role (a demoted admin's keys follow). */
  async verifyApiKey(key: string): Promise<AuthUser> {
    const state = await this.#keyState(hashToken(key));
    if (!state) throw unauthorized('API key is not valid', 'invalid_api_key');
    // Record use at most once a minute per key: no write on every request.
    const now = this.#clock.now();
    if ((this.#lastUsedWrites.get(state.id) ?? 0) < now - 60_000) {
      this.#lastUsedWrites.set(state.id, now);
      await this.#db.updateTable('api_keys').set({ last_used_at: this.#iso(now) }).where('id', '=', state.id).execute();
    }
    // An agent key is outside the user chain (roles.ts): its maker's role does not cap it.
    const role = state.ownerRole && state.role !== AGENT_ROLE ? minRole(state.role, state.ownerRole) : state.role;
    return { id: `api-key:${state.id}`, username: state.name, role, via: 'api-key', apiKeyId: state.id, ownerId: state.ownerId };
  }
}
