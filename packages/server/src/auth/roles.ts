/** Roles a user (or a user-made API key) has; ordered: admin ⊇ operator ⊇ viewer. */
export const roles = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof roles)[number];

/**
 * The edge agent's credential role (agents/). It is outside the user chain on purpose: an agent key
 * is neither more nor less than a viewer; it reaches only the few routes marked `role: 'agent'`
 * (fetching a job's file by hash) and its own MQTT topics.
 */
export const AGENT_ROLE = 'agent' as const;
/** Every role a credential can carry. */
export type CredentialRole = Role | typeof AGENT_ROLE;

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

export function isCredentialRole(value: unknown): value is CredentialRole {
  return value === AGENT_ROLE || isRole(value);
}

/** admin ⊇ operator ⊇ viewer; `agent` allows only what needs `agent`, and only `agent` allows that. */
export function roleAllows(have: CredentialRole, need: CredentialRole): boolean {
  if (have === AGENT_ROLE || need === AGENT_ROLE) return have === need;
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
  role: CredentialRole;
  via: 'jwt' | 'api-key';
  /** Set for API keys. */
  apiKeyId?: string;
  /** The person behind the credential: the user, or the user who made the API key (null for old keys). */
  ownerId?: string | null;
}
