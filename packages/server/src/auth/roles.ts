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

export interface AuthUser {
  id: string;
  username: string;
  role: Role;
  via: 'jwt' | 'api-key';
}
