import { computed, reactive } from 'vue';
import { tokenClaims } from '../api/auth-tokens.ts';
import { api } from '../api/http.ts';
import type { Role } from '../api/types.ts';

/**
 * Who is looking at the dashboard. Seeded from the access token's claims (so the first paint already
 * hides write controls from a viewer) and confirmed once by GET /auth/me (an admin may have changed
 * the role since the token was issued). Display only: the server checks every request itself.
 */
export const me = reactive({ id: '', username: '', role: 'viewer' as Role });

export function seedMe(): void {
  const c = tokenClaims();
  me.id = c.sub ?? '';
  me.username = c.username ?? '';
  me.role = (c.role as Role | undefined) ?? 'viewer';
}
seedMe();

export async function loadMe(): Promise<void> {
  seedMe();
  const who = await api<{ id: string; username: string; role: Role }>('/auth/me');
  Object.assign(me, who);
}

/** Operators and admins may change the farm (queue, printers, files); viewers only look. */
export const canOperate = computed(() => me.role === 'admin' || me.role === 'operator');
export const isAdmin = computed(() => me.role === 'admin');
