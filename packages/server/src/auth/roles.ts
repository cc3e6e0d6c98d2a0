export const roles = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof roles)[number];

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

/** admin ⊇ operator ⊇ viewer. */
export function roleAllows(have: Role, need: Role): boolean {
  return rank[have] >= rank[need];
}

/** The lesser of two roles (an API key never does more than the user who made it may). */
export function minRole(a: Role, b: Role): Role {
  return rank[a] <= rank[b] ? a : b;
}

export interface AuthUser {
  /** The user's id, or `api-key:<keyId>` for an API key. */
  id: string;
  username: string;
  role: Role;
  via: 'jwt' | 'api-key';
  /** Set for API keys. */
  apiKeyId?: string;
  /** The person behind the credential: the user, or the user who made the API key (null for old keys). */
  ownerId?: string | null;
}
