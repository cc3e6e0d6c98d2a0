import crypto from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { DomainError, conflict, notFound, unauthorized } from '../errors.ts';
import type { Db } from '../storage/schema.ts';
import type { Clock } from '../util/clock.ts';
import { dummyHashPromise, hashPassword, hashToken, randomToken, verifyPassword } from './passwords.ts';
import { type AuthUser, type CredentialRole, type Role, isCredentialRole, isRole } from './roles.ts';

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
}

const ISSUER = 'realworldclaw';

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

  constructor(opts: { db: Db; clock: Clock; jwtKey: Buffer; accessTtlSeconds: number; refreshTtlSeconds: number }) {
    this.#db = opts.db;
    this.#clock = opts.clock;
    this.#jwtKey = new Uint8Array(opts.jwtKey);
    this.#accessTtl = opts.accessTtlSeconds;
    this.#refreshTtl = opts.refreshTtlSeconds;
  }

  #iso(ms = this.#clock.now()): string {
    return new Date(ms).toISOString();
  }

  async setupNeeded(): Promise<boolean> {
    const row = await this.#db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    return !row;
  }

  /** Creates the first admin. Serialised in a transaction so two racing setups cannot both win. */
  async setup(username: string, password: string): Promise<UserRecord> {
    const passwordHash = await hashPassword(password);
    return this.#db.transaction().execute(async (trx) => {
      const any = await trx.selectFrom('users').select('id').limit(1).executeTakeFirst();
      if (any) throw conflict('setup is already done: log in instead', 'setup_done');
      return this.#insertUser(trx, username, passwordHash, 'admin');
    });
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

  async deleteUser(id: string): Promise<void> {
    const res = await this.#db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    if (!res.numDeletedRows) throw notFound('user');
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
    const accessToken = await new SignJWT({ role: user.role, username: user.username })
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

  async revokeRefreshToken(refreshToken: string): Promise<void> {
    const row = await this.#db
      .selectFrom('refresh_tokens')
      .select('family_id')
      .where('token_hash', '=', hashToken(refreshToken))
      .executeTakeFirst();
    if (row) await this.revokeFamily(row.family_id);
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
    try {
      const { payload } = await jwtVerify(token, this.#jwtKey, {
        issuer: ISSUER,
        algorithms: ['HS256'],
        currentDate: new Date(this.#clock.now()),
      });
      if (!payload.sub || !isRole(payload.role)) throw unauthorized('access token is malformed', 'invalid_token');
      return { id: payload.sub, username: String(payload.username ?? ''), role: payload.role, via: 'jwt' };
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw unauthorized('access token expired: refresh it', 'token_expired');
      throw unauthorized('access token is not valid', 'invalid_token');
    }
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
    return { id: rec.id, name, role, prefix: rec.prefix, createdAt: rec.created_at, lastUsedAt: null, key };
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const rows = await this.#db.selectFrom('api_keys').selectAll().orderBy('created_at').execute();
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role as CredentialRole,
      prefix: r.prefix,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  async deleteApiKey(id: string): Promise<void> {
    const res = await this.#db.deleteFrom('api_keys').where('id', '=', id).executeTakeFirst();
    if (!res.numDeletedRows) throw notFound('API key');
  }

  #lastUsedWrites = new Map<string, number>();

  async verifyApiKey(key: string): Promise<AuthUser> {
    const row = await this.#db.selectFrom('api_keys').selectAll().where('key_hash', '=', hashToken(key)).executeTakeFirst();
    if (!row || !isCredentialRole(row.role)) throw unauthorized('API key is not valid', 'invalid_api_key');
    // Record use at most once a minute per key: no write on every request.
    const now = this.#clock.now();
    if ((this.#lastUsedWrites.get(row.id) ?? 0) < now - 60_000) {
      this.#lastUsedWrites.set(row.id, now);
      await this.#db.updateTable('api_keys').set({ last_used_at: this.#iso(now) }).where('id', '=', row.id).execute();
    }
    return { id: `api-key:${row.id}`, username: row.name, role: row.role, via: 'api-key' };
  }
}
